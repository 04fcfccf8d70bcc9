import { join } from 'node:path';

import { createStoreMetrics } from '@wirthforge/metrics';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommandEnv, CommonOptions } from '../cli-runtime.js';
import { runningDaemon } from '../daemon-api.js';
import { table } from '../format-text.js';
import { openReadOnly, requireDatabase } from '../open-store.js';

interface MetricsOptions extends CommonOptions {
  readonly prometheus?: boolean;
}

/** One sample of the Prometheus text format. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition (comments skipped). */
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) {
      labels[key!] = value!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The metrics of the data directory's files, when no daemon measures the store. */
async function fileMetrics(env: CommandEnv): Promise<string> {
  const { database, dir } = env.dataDir;
  const metrics = createStoreMetrics({
    files: { database, archive: join(dir, 'archive') },
    eventLoop: false,
  });
  try {
    const store = await openReadOnly(env);
    try {
      const row = await store.storage.db
        .selectFrom('snapshots')
        .select((eb) => eb.fn.sum<number | null>('size_bytes').as('bytes'))
        .executeTakeFirst();
      metrics.setSize('snapshots', Number(row?.bytes ?? 0));
    } finally {
      await store.close();
    }
    return metrics.prometheus();
  } finally {
    metrics.close();
  }
}

/** `wfstate metrics`. */
export const metricsCommand: CommandDefinition = {
  name: 'metrics',
  register(program, runtime) {
    const command = runtime
      .common(program.command('metrics'))
      .option('--prometheus', 'print the Prometheus text format (0.0.4) as it is')
      .description(
        "the store's metrics: the running daemon's (commits, latencies, sizes, jobs), else the files' sizes",
      )
      .addHelpText(
        'after',
        `${examples('wfstate metrics', 'wfstate metrics --prometheus', 'wfstate metrics --json | jq \'.samples[] | select(.name | startswith("wirthforge_storage"))\'')}
While the daemon runs, these are its live metrics (GET /metrics of its API). Without it,
they are what the files tell: database, WAL, archive and snapshot sizes.
`,
      );
    runtime.bind<MetricsOptions>(command, async (env, options) => {
      requireDatabase(env);
      const daemon = runningDaemon(env);
      const text = daemon === undefined ? await fileMetrics(env) : await daemon.text('/metrics');
      const source = daemon === undefined ? 'files' : 'daemon';
      if (options.prometheus === true && !env.json) {
        env.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
        return { text: '', json: null, written: true };
      }
      const samples = parsePrometheusText(text);
      return {
        json: { source, ...(daemon === undefined ? {} : { daemonPid: daemon.pid }), samples },
        text: `metrics of ${daemon === undefined ? 'the data directory’s files (no daemon runs)' : `the daemon (pid ${daemon.pid})`}\n${table(
          ['metric', 'labels', 'value'],
          samples.map((s) => [
            s.name,
            Object.entries(s.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(' '),
            Number.isInteger(s.value) ? s.value : s.value.toPrecision(6),
          ]),
        )}`,
      };
    });
  },
};
