import { resolve } from 'node:path';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { formatCount, table } from '../format-text.js';
import { importRecords, readImportFile } from '../import-events.js';
import { daemonImportTarget, runningDaemon } from '../daemon-api.js';
import { openReadOnly, openWritable } from '../open-store.js';

/** `wfstate import FILE`. */
export const importCommand: CommandDefinition = {
  name: 'import',
  register(program, runtime) {
    const command = runtime
      .common(program.command('import'))
      .argument('<file>', 'an export (JSON, NDJSON or YAML)')
      .description(
        'validate every event of an export, then append what the store does not hold yet',
      )
      .addHelpText(
        'after',
        `${examples('wfstate import session.yaml', 'wfstate import everything.ndjson --data-dir /tmp/copy --json')}
Every event is validated before anything is written; one invalid event and nothing is
imported. Importing the same file twice changes nothing: events already stored at their
stream version are skipped, events without one are matched by event_id.
While the daemon runs, the events go through its API (planned with reads beside it,
appended by the daemon at exact stream versions); otherwise wfstate takes the writer lock.
`,
      );
    runtime.bind<CommonOptions>(command, async (env, _options, [file]) => {
      const path = resolve(env.io.cwd, file!);
      const { format, records } = readImportFile(path);
      const daemon = runningDaemon(env);
      const open = daemon === undefined ? await openWritable(env) : await openReadOnly(env);
      try {
        const target = daemon === undefined ? open.store : daemonImportTarget(daemon, open.storage);
        const progress = env.progress('importing', records.length);
        const report = await importRecords(target, format, records, (n) => progress.update(n));
        progress.stop();
        return {
          json: { file: path, ...report, via: daemon === undefined ? 'writer' : 'daemon' },
          text: `${report.appended === 0 ? 'nothing new' : `imported ${formatCount(report.appended)} event(s)`} from ${path} (${format}); ${formatCount(report.skipped)} already stored${daemon === undefined ? '' : ` (through the daemon, pid ${daemon.pid})`}\n${table(
            ['stream', 'appended', 'already stored'],
            report.streams.map((s) => [s.stream, formatCount(s.appended), formatCount(s.skipped)]),
          )}`,
        };
      } finally {
        await open.close();
      }
    });
  },
};
