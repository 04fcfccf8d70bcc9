import { describe, expect, it } from 'vitest';
import { smallRunOptions } from '../../test/small-run-options.js';
import { buildDataset } from '../bench-dataset.js';
import { runBench } from '../run-bench.js';
import { daemonCase, daemonRssCase, daemonRssEventCount } from './daemon.js';

describe('daemon cases', () => {
  it('ingests over HTTP and WebSocket into a wfstated child process, with the storage baseline and ratios', async () => {
    const dataset = buildDataset({ seed: 4, batches: 5, batchSize: 60 });
    const run = await runBench([daemonCase, daemonRssCase], smallRunOptions(4, 1), { dataset });
    expect(run.failures).toEqual([]);
    for (const name of [
      'daemon.http_ingest_events_per_s',
      'daemon.ws_ingest_events_per_s',
      'daemon.ingest_latency_ms_p99',
      'daemon.storage_append_events_per_s',
      'daemon.rss_mb',
      'daemon.rss_mb_start',
      'daemon.ingest_cpu_us_per_event',
    ]) {
      expect(run.results[name]?.samples, name).toHaveLength(1);
      expect(run.results[name]?.min, name).toBeGreaterThan(0);
    }
    const at = (name: string): number => run.results[name]!.samples[0]!;
    expect(at('daemon.ws_ingest_vs_storage')).toBe(
      at('daemon.ws_ingest_events_per_s') / at('daemon.storage_append_events_per_s'),
    );
    expect(at('daemon.ingest_latency_ms_p99')).toBeGreaterThanOrEqual(
      at('daemon.ingest_latency_ms_p50'),
    );
    expect(run.results['daemon.rss_mb']!.note).toMatch(/^after 20,0\d\d events stored/);
  }, 120_000);

  it('reads the RSS event count from WF_BENCH_DAEMON_EVENTS', () => {
    expect(daemonRssEventCount(false, {})).toBe(200_000);
    expect(daemonRssEventCount(true, {})).toBe(20_000);
    expect(daemonRssEventCount(false, { WF_BENCH_DAEMON_EVENTS: '10000000' })).toBe(10_000_000);
    expect(() => daemonRssEventCount(false, { WF_BENCH_DAEMON_EVENTS: 'lots' })).toThrow(
      'WF_BENCH_DAEMON_EVENTS',
    );
  });
});
