import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { EXIT_CODES, runCli, type CliIo } from '@wirthforge/cli/dist/index.js';
import { type FaultRow } from '../fault-row.js';
import {
  hostileValue,
  textMutation,
  type Loose,
  type TextMutation,
} from '../fuzz/event-arbitraries.js';
import {
  ACCEPTED,
  REJECTED,
  fuzzSurface,
  inputsFor,
  preview,
  reportTally,
  scratchDir,
  type Verdict,
} from '../fuzz/fuzz-loop.js';

/** A password no output may ever hold. */
const SECRET = 'PWsecret-9f2c7';

const KNOWN: Record<string, fc.Arbitrary<Loose>> = {
  url: fc.constantFrom<Loose>(
    'postgres://wf@127.0.0.1:9/hub',
    `postgres://wf:${SECRET}@127.0.0.1:9/hub`,
    `postgresql://wf:${encodeURIComponent(SECRET)}@[::1]:9/hub?sslmode=disable`,
    'mysql://wf@127.0.0.1/hub',
    'postgres://',
    'not a url',
    '',
    `http://wf:${SECRET}@example.invalid/`,
    42,
    null,
  ),
  schema: fc.constantFrom<Loose>('wirthforge', 'wf_2', 'Bad-Name', '', 'x'.repeat(80), '1abc', 7),
  intervalMs: fc.oneof(
    fc.integer({ min: -10, max: 10 ** 9 }),
    fc.constantFrom<Loose>(5000, 4999, '60000', 1.5, 2 ** 60, 'often', null),
  ),
  password: fc.constantFrom<Loose>(SECRET, '', 12, null),
};

/** A sync.json value: known keys with good and bad values, sometimes an unknown key or a hostile value. */
const settings: fc.Arbitrary<Loose> = fc.oneof(
  {
    arbitrary: fc
      .tuple(
        fc.record(KNOWN, { requiredKeys: [] }),
        fc.oneof(
          { arbitrary: fc.constant(undefined), weight: 4 },
          { arbitrary: fc.tuple(fc.constantFrom(...Object.keys(KNOWN)), hostileValue), weight: 1 },
          {
            arbitrary: fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), hostileValue),
            weight: 1,
          },
        ),
      )
      .map(([known, extra]) => {
        const out: Record<string, Loose> = { ...known };
        if (extra !== undefined) out[extra[0]] = extra[1];
        return out;
      }),
    weight: 6,
  },
  { arbitrary: hostileValue, weight: 1 },
);

type SyncFile = { readonly text: Buffer; readonly value: Loose; readonly mode: number };

const syncFile: fc.Arbitrary<SyncFile> = fc
  .tuple(
    settings,
    fc.oneof(
      { arbitrary: fc.constant([] as TextMutation[]), weight: 3 },
      { arbitrary: fc.array(textMutation, { minLength: 1, maxLength: 2 }), weight: 1 },
    ),
    fc.constantFrom(0o600, 0o644),
  )
  .map(([value, changes, mode]) => {
    let bytes: Buffer = Buffer.from(JSON.stringify(value) ?? '');
    for (const change of changes) bytes = change(bytes);
    return { text: bytes, value: changes.length === 0 ? value : undefined, mode };
  });

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m;

/**
 * The sync hub's config file (`sync.json`, named by `WF_SYNC_CONFIG`) through
 * `wfstate sync status --offline --json` in-process (no hub is contacted): generated
 * settings with good and bad values, unknown keys, hostile values and text damage, as
 * files readable by others or not. A refusal names the file (and the key); an accepted
 * file gives a hub of a postgres URL; the password (in the URL or its own key) never
 * appears in any output; never an untyped failure or a stack trace.
 */
export const fuzzSyncConfigRow: FaultRow = {
  id: 'input.sync',
  fault: 'generated sync.json files through wfstate sync status --offline (in-process)',
  async run(ctx, result) {
    const tmp = scratchDir('sync');
    try {
      const file = join(tmp.dir, 'sync.json');
      const data = join(tmp.dir, 'data');
      const quiet = { write: (): boolean => true };
      const init = await runCli(['init', '--data-dir', data], {
        stdout: quiet,
        stderr: quiet,
        env: { HOME: tmp.dir },
        cwd: tmp.dir,
      });
      if (init !== EXIT_CODES.ok) result.problems.push(`wfstate init: exit ${init}`);
      const runs = inputsFor(ctx.long, 5_000);
      const tally = await fuzzSurface({
        arbitrary: syncFile,
        runs,
        seed: 0x5c,
        timeoutMs: 20_000,
        describe: (f) => preview(f.text),
        attempt: async (f): Promise<Verdict> => {
          writeFileSync(file, f.text);
          chmodSync(file, f.mode);
          let stdout = '';
          let stderr = '';
          const io: CliIo = {
            stdout: { write: (t: string) => (stdout += t) },
            stderr: { write: (t: string) => (stderr += t) },
            env: { HOME: tmp.dir, WF_SYNC_CONFIG: file },
            cwd: tmp.dir,
          };
          const code = await runCli(
            ['sync', 'status', '--offline', '--json', '--data-dir', data],
            io,
          );
          const output = stdout + stderr;
          if (output.includes(SECRET) || output.includes(encodeURIComponent(SECRET)))
            return {
              kind: 'violation',
              detail: `the password reached the output: ${preview(output, 200)}`,
            };
          if (stderr.includes('this is unexpected') || STACK.test(output))
            return { kind: 'crash', detail: `untyped failure: ${preview(stderr, 300)}` };
          if (code !== EXIT_CODES.ok) {
            if (!Object.values(EXIT_CODES).includes(code))
              return { kind: 'violation', detail: `exit status ${code} is not documented` };
            // A file without a URL configures no hub: `sync status` says so (typed, usage).
            let value: unknown = f.value;
            if (value === undefined) {
              try {
                value = JSON.parse(f.text.toString('utf8'));
              } catch {
                value = undefined;
              }
            }
            const noUrl =
              typeof value === 'object' &&
              value !== null &&
              !Array.isArray(value) &&
              (value as Record<string, Loose>).url === undefined;
            if (noUrl && stderr.includes('no sync hub is configured')) return REJECTED;
            if (!stderr.includes(`config file ${file}`))
              return {
                kind: 'violation',
                detail: `refusal does not name the file: ${preview(stderr, 200)}`,
              };
            return REJECTED;
          }
          let status: { hub?: unknown; source?: unknown };
          try {
            status = JSON.parse(stdout) as typeof status;
          } catch {
            return {
              kind: 'violation',
              detail: `exit 0 without one JSON document: ${preview(stdout, 200)}`,
            };
          }
          const value = f.value;
          if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
            const unknown = Object.keys(value).find((k) => !(k in KNOWN));
            if (unknown !== undefined)
              return { kind: 'violation', detail: `accepted an unknown key ${unknown}` };
            const url = (value as Record<string, Loose>).url;
            if (typeof url === 'string' && url !== '') {
              if (
                status.source !== 'file' ||
                typeof status.hub !== 'string' ||
                !/^postgres(ql)?:\/\//.test(status.hub)
              )
                return {
                  kind: 'violation',
                  detail: `accepted url ${url} as hub ${preview(status.hub)}`,
                };
            }
          }
          return ACCEPTED;
        },
        progress: (t) => ctx.log(`input.sync: ${t.inputs} inputs`),
      });
      reportTally(result, 'sync.json', tally);
    } finally {
      tmp.remove();
    }
  },
};
