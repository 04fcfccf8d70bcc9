import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { isDaemonError, resolveDaemonConfig, type DaemonConfig } from '@wirthforge/daemon';
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

const KNOWN: Record<string, fc.Arbitrary<Loose>> = {
  dataDir: fc.constantFrom('/tmp/wf', 'data', ' spaced ', ''),
  host: fc.constantFrom('127.0.0.1', '::1', 'localhost', '0.0.0.0', ''),
  port: fc.oneof(
    fc.integer({ min: 0, max: 65535 }),
    fc.constantFrom<Loose>('7460', 65536, -1, '80x', 1.5),
  ),
  sync: fc.constantFrom('full', 'normal', 'FULL', 'off', ''),
  simulate: fc.constantFrom<Loose>(true, false, 'yes', 'no', '1', '0', 'maybe', 2),
  simulateSeconds: fc.oneof(
    fc.integer({ min: 1, max: 100_000 }),
    fc.constantFrom<Loose>(0, '10', -5),
  ),
  logLevel: fc.constantFrom('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', 'loud'),
  bodyLimitBytes: fc.oneof(
    fc.integer({ min: 1, max: 2 ** 40 }),
    fc.constantFrom<Loose>(0, 2 ** 60, '4MiB'),
  ),
  wsMaxBufferedBytes: fc.oneof(fc.integer({ min: 1, max: 2 ** 30 }), fc.constantFrom<Loose>(0, -1)),
  storeContent: fc.constantFrom<Loose>(true, false, 'true', 'nope'),
};

/** A settings mapping: known keys with good and bad values, sometimes an unknown key or a hostile value. */
const settings: fc.Arbitrary<Record<string, Loose>> = fc
  .tuple(
    fc.record(KNOWN, { requiredKeys: [] }),
    fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 4 },
      { arbitrary: fc.tuple(fc.constantFrom(...Object.keys(KNOWN)), hostileValue), weight: 1 },
      { arbitrary: fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), hostileValue), weight: 1 },
    ),
  )
  .map(([known, extra]) => {
    const out: Record<string, Loose> = { ...known };
    if (extra !== undefined) out[extra[0]] = extra[1];
    return out;
  });

type ConfigFile = { readonly text: Buffer; readonly value: Loose };

const configFile: fc.Arbitrary<ConfigFile> = fc
  .tuple(
    fc.oneof({ arbitrary: settings, weight: 6 }, { arbitrary: hostileValue, weight: 1 }),
    fc.constantFrom<'json' | 'yaml'>('json', 'yaml'),
    fc.oneof(
      { arbitrary: fc.constant([] as TextMutation[]), weight: 3 },
      { arbitrary: fc.array(textMutation, { minLength: 1, maxLength: 2 }), weight: 1 },
    ),
  )
  .map(([value, form, changes]) => {
    let text: string;
    if (form === 'yaml' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      // Block YAML with JSON flow values (JSON is YAML).
      text = Object.entries(value)
        .map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v) ?? 'null'}`)
        .join('\n');
    } else text = JSON.stringify(value) ?? '';
    let bytes: Buffer = Buffer.from(text);
    for (const change of changes) bytes = change(bytes);
    return { text: bytes, value: changes.length === 0 ? value : undefined };
  });

/** Whether a resolved config holds only values the daemon can run with. */
function configProblem(config: DaemonConfig): string | undefined {
  if (!Number.isSafeInteger(config.port) || config.port < 0 || config.port > 65535)
    return `port ${config.port}`;
  for (const key of ['simulateSeconds', 'bodyLimitBytes', 'wsMaxBufferedBytes'] as const)
    if (!Number.isSafeInteger(config[key]) || config[key] < 1) return `${key} ${config[key]}`;
  if (config.sync !== 'full' && config.sync !== 'normal') return `sync ${String(config.sync)}`;
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(config.logLevel))
    return `logLevel ${config.logLevel}`;
  if (typeof config.host !== 'string' || config.host === '') return 'host empty';
  if (typeof config.dataDir !== 'string' || config.dataDir === '') return 'dataDir empty';
  if (typeof config.simulate !== 'boolean' || typeof config.storeContent !== 'boolean')
    return 'a flag not boolean';
  return undefined;
}

/**
 * `wfstated --config FILE` (the daemon's own settings file, YAML or JSON) through
 * `resolveDaemonConfig`, in-process: generated mappings of the known settings with good
 * and bad values, unknown keys, values of every hostile kind, other documents, and text
 * damage. A refusal is an `invalid_config` naming the file and the key; an accepted
 * file gives a config of valid values only, with no unknown key taken silently.
 */
export const fuzzConfigRow: FaultRow = {
  id: 'input.config',
  fault: 'generated daemon config files through resolveDaemonConfig (in-process)',
  async run(ctx, result) {
    const tmp = scratchDir('config');
    try {
      const file = join(tmp.dir, 'wfstated.yaml');
      const runs = inputsFor(ctx.long, 5_000);
      const tally = await fuzzSurface({
        arbitrary: configFile,
        runs,
        seed: 0xc0f,
        timeoutMs: 10_000,
        describe: (c) => preview(c.text),
        attempt: (c): Promise<Verdict> => {
          writeFileSync(file, c.text);
          let config: DaemonConfig;
          try {
            const resolved = resolveDaemonConfig({
              argv: ['--config', file],
              env: { HOME: tmp.dir },
              cwd: tmp.dir,
            });
            if (resolved.help)
              return Promise.resolve({ kind: 'violation', detail: 'a config file asked for help' });
            config = resolved.config;
          } catch (error) {
            if (!isDaemonError(error) || error.code !== 'invalid_config')
              return Promise.resolve({ kind: 'crash', detail: `threw ${String(error)}` });
            if (!error.message.includes(`config file ${file}`))
              return Promise.resolve({
                kind: 'violation',
                detail: `refusal does not name the file: ${error.message}`,
              });
            return Promise.resolve(REJECTED);
          }
          const problem = configProblem(config);
          if (problem !== undefined)
            return Promise.resolve({ kind: 'violation', detail: `accepted ${problem}` });
          const value = c.value;
          if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
            const unknown = Object.keys(value).find((k) => !(k in KNOWN));
            if (unknown !== undefined)
              return Promise.resolve({
                kind: 'violation',
                detail: `accepted an unknown key ${unknown}`,
              });
            // Read back: each numeric setting as written.
            for (const key of [
              'port',
              'simulateSeconds',
              'bodyLimitBytes',
              'wsMaxBufferedBytes',
            ] as const) {
              const given = (value as Record<string, unknown>)[key];
              if (given !== undefined && Number(given) !== config[key])
                return Promise.resolve({
                  kind: 'violation',
                  detail: `${key} ${preview(given)} read as ${config[key]}`,
                });
            }
          }
          return Promise.resolve(ACCEPTED);
        },
        progress: (t) => ctx.log(`input.config: ${t.inputs} inputs`),
      });
      reportTally(result, 'config', tally);
    } finally {
      tmp.remove();
    }
  },
};
