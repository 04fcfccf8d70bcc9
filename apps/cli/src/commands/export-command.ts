import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { outputFilePath } from '../cli-runtime.js';
import { CliError } from '../errors.js';
import { exportEvents } from '../export-events.js';
import type { ExportFormat } from '../export-events.js';
import { formatCount } from '../format-text.js';
import { openReadOnly } from '../open-store.js';
import { fileSink, stdoutSink } from '../output-sink.js';
import { findSession } from '../session-arg.js';

interface ExportOptions extends CommonOptions {
  readonly all?: boolean;
  readonly format: string;
  readonly includeContent?: boolean;
  readonly output?: string;
}

const FORMATS: readonly ExportFormat[] = ['json', 'ndjson', 'yaml'];

/** `wfstate export SESSION|--all`. */
export const exportCommand: CommandDefinition = {
  name: 'export',
  register(program, runtime) {
    const command = runtime
      .common(program.command('export'))
      .argument('[session]', 'session id (or --all)')
      .option('--all', 'every stream: sessions, users, system')
      .option(
        '--format <format>',
        'json, ndjson or yaml (yaml reads like the audit-trail example)',
        'json',
      )
      .option('--include-content', 'keep prompt text and AI tokens (redacted by default)')
      .option('-o, --output <file>', 'write to FILE (complete or not at all) instead of stdout')
      .description(
        "a session's events (or everything) as JSON, NDJSON or YAML, private content redacted",
      )
      .addHelpText(
        'after',
        `${examples(
          'wfstate export 20250817T194800Z_001 --format yaml > session.yaml',
          'wfstate export --all --format ndjson -o everything.ndjson',
          'wfstate export 20250817T194800Z_001 --include-content --format json -o full.json',
        )}
Redacted by default: the text of user.prompt and the token of ai.output (and any field
outside their schema); each redacted event lists what was removed under "redacted".
With --output, --json prints a report of the export; without it the export is stdout.
`,
      );
    runtime.bind<ExportOptions>(command, async (env, options, [arg]) => {
      if (!FORMATS.includes(options.format as ExportFormat)) {
        throw new CliError('usage', `--format must be json, ndjson or yaml, got ${options.format}`);
      }
      if ((arg === undefined) === (options.all !== true)) {
        throw new CliError('usage', 'name one SESSION or pass --all', {
          hint: '`wfstate sessions list` shows the session ids',
        });
      }
      const open = await openReadOnly(env);
      try {
        const streams =
          arg === undefined ? undefined : [(await findSession(open.storage, arg)).stream];
        const path =
          options.output === undefined
            ? undefined
            : outputFilePath(env, options.output, '--output');
        const sink = path === undefined ? stdoutSink(env.io.stdout) : fileSink(path);
        const head = Number(await open.storage.headPosition());
        const progress = path === undefined ? env.progress('', 0) : env.progress('exporting', head);
        let report;
        try {
          report = await exportEvents(open, {
            format: options.format as ExportFormat,
            includeContent: options.includeContent === true,
            ...(streams === undefined ? {} : { streams }),
            write: (text) => sink.write(text),
            onProgress: (p) => progress.update(p),
            exportedAt: new Date().toISOString(),
          });
          await sink.finish();
        } catch (error) {
          sink.abort();
          throw error;
        } finally {
          progress.stop();
        }
        if (path === undefined) return { json: undefined, text: '', written: true };
        return {
          json: { ...report, path },
          text: `exported ${formatCount(report.events)} event(s) of ${report.streams} stream(s) to ${path} (${report.format}; ${
            report.includeContent
              ? 'content included'
              : `${formatCount(report.redactedEvents)} event(s) redacted`
          })`,
        };
      } finally {
        await open.close();
      }
    });
  },
};
