import { parseIsoMicros, userStream } from '@wirthforge/events';
import { PROMETHEUS_CONTENT_TYPE } from '@wirthforge/metrics';
import type { SimEvent } from '@wirthforge/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  chunk,
  openStream,
  sessionEvents,
  startSession,
  startTestDaemon,
} from './daemon-harness.js';

type TestDaemon = Awaited<ReturnType<typeof startTestDaemon>>;
type Issue = { path: string; keyword: string; message: string };
type ErrorBody = { error: { code: string; message: string; issues?: Issue[] } };

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/**
 * A strict reader of the Prometheus text format 0.0.4: every line is a comment, blank, or
 * a sample of a metric whose `# TYPE` came before; label values unescaped.
 */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const sampleLine =
    /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)(?: -?\d+)?$/;
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const type =
        /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped)$/.exec(line);
      if (type !== null) types.set(type[1]!, type[2]!);
      else expect(line).toMatch(/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/);
      continue;
    }
    const match = sampleLine.exec(line);
    if (match === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const name = match[1]!;
    const family = name.replace(/_(sum|count)$/, '');
    if (!types.has(name) && !types.has(family)) throw new Error(`sample ${name} before its # TYPE`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const raw = match[3]!;
    const value =
      raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : raw === 'NaN' ? NaN : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`bad value in ${line}`);
    samples.push({ name, labels, value });
  }
  return samples;
}

function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.find(
    (s) =>
      s.name === name &&
      Object.keys(labels).length === Object.keys(s.labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return found?.value ?? 0;
}

function byType(samples: Sample[], name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) if (s.name === name) out.set(s.labels.event_type!, s.value);
  return out;
}

async function scrape(daemon: TestDaemon): Promise<Sample[]> {
  const response = await fetch(`${daemon.url}/metrics`, {
    headers: { authorization: `Bearer ${daemon.token}` },
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE);
  return parsePrometheus(await response.text());
}

/** A brute-force recomputation of the `*` (all models) rollups of some events. */
function recompute(events: readonly SimEvent[], widthUs: number, fromUs = 0, toUs = Infinity) {
  const buckets = new Map<
    number,
    { energySum: number; energyMin: number; energyMax: number; updates: number; tokens: number }
  >();
  for (const event of events) {
    if (event.type !== 'energy.update' && event.type !== 'ai.output') continue;
    const us = parseIsoMicros(event.timestamp);
    const start = Math.floor(us / widthUs) * widthUs;
    if (start < fromUs || start >= toUs) continue;
    let bucket = buckets.get(start);
    if (bucket === undefined) {
      bucket = { energySum: 0, energyMin: Infinity, energyMax: -Infinity, updates: 0, tokens: 0 };
      buckets.set(start, bucket);
    }
    if (event.type === 'energy.update') {
      bucket.energySum += event.data.energy;
      bucket.energyMin = Math.min(bucket.energyMin, event.data.energy);
      bucket.energyMax = Math.max(bucket.energyMax, event.data.energy);
      bucket.updates++;
    } else {
      bucket.tokens++;
    }
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([bucketStartUs, b]) => ({
      bucketStartUs,
      ...b,
      energyMin: b.updates > 0 ? b.energyMin : 0,
      energyMax: b.updates > 0 ? b.energyMax : 0,
    }));
}

interface Point {
  bucketStart: string;
  bucketStartUs: number;
  energySum: number;
  energyMin: number;
  energyMax: number;
  updates: number;
  tokens: number;
  sessions: number;
}

function expectPoints(points: Point[], expected: ReturnType<typeof recompute>): void {
  expect(points.map((p) => p.bucketStartUs)).toEqual(expected.map((e) => e.bucketStartUs));
  points.forEach((point, i) => {
    const want = expected[i]!;
    expect(new Date(point.bucketStart).getTime() * 1000).toBe(point.bucketStartUs);
    expect(point.updates).toBe(want.updates);
    expect(point.tokens).toBe(want.tokens);
    expect(point.energySum).toBeCloseTo(want.energySum, 6);
    expect(point.energyMin).toBeCloseTo(want.energyMin, 9);
    expect(point.energyMax).toBeCloseTo(want.energyMax, 9);
  });
}

let daemon: TestDaemon;
let httpSession: string;
let wsSession: string;
let httpEvents: SimEvent[];
let wsEvents: SimEvent[];
let before: Sample[];
/** The simulated events run a few seconds into the future: ranges end well after them. */
const TO = new Date(Date.now() + 3_600_000).toISOString();
let after: Sample[];
const USER = 'grace';

beforeAll(async () => {
  daemon = await startTestDaemon(
    {},
    {
      jobs: [
        {
          name: 'seal',
          intervalMs: 3_600_000,
          run: () => Promise.reject(new Error('seal failed on purpose')),
        },
      ],
    },
  );
  before = await scrape(daemon);
  httpSession = await startSession(daemon, { userId: USER });
  wsSession = await startSession(daemon, { userId: USER });
  httpEvents = sessionEvents(httpSession, 3, 11);
  wsEvents = sessionEvents(wsSession, 2, 12);
  for (const batch of chunk(httpEvents, 60)) {
    const response = await api(daemon, 'POST', `/v1/sessions/${httpSession}/events`, {
      body: { events: batch },
    });
    expect(response.status).toBe(200);
  }
  const stream = await openStream(daemon);
  const batches = chunk(wsEvents, 60);
  batches.forEach((events, id) =>
    stream.send({ op: 'ingest', id: String(id), session: wsSession, events }),
  );
  await stream.next((m) => m.op === 'ack' && m.id === String(batches.length - 1));
  expect(stream.messages.filter((m) => m.op === 'error')).toEqual([]);
  stream.close();
  // The simulated events run up to a few seconds after now: the sessions end after them,
  // as live ones do (a user's range query takes the sessions that overlap it).
  const lastMs = Math.max(...[...httpEvents, ...wsEvents].map((e) => Date.parse(e.timestamp)));
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastMs - Date.now() + 20)));
  // Ending waits for the events the analytics derived from the sessions (peaks, anomalies).
  for (const id of [httpSession, wsSession]) {
    expect((await api(daemon, 'POST', `/v1/sessions/${id}/end`, { body: {} })).status).toBe(200);
  }
  after = await scrape(daemon);
}, 60_000);

afterAll(async () => {
  await daemon.cleanup();
});

describe('GET /metrics', () => {
  it('needs the token, like every route (header, or ?token= for scrapers that cannot set one)', async () => {
    expect((await api(daemon, 'GET', '/metrics', { token: null })).status).toBe(401);
    const wrong = await api<ErrorBody>(daemon, 'GET', '/metrics', { token: 'x'.repeat(64) });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('unauthorized');
    const query = await fetch(`${daemon.url}/metrics?token=${daemon.token}`);
    expect(query.status).toBe(200);
    expect(parsePrometheus(await query.text()).length).toBeGreaterThan(0);
  });

  it('counts exactly what was ingested over HTTP and the WebSocket, by event type', () => {
    const ingested = httpEvents.length + wsEvents.length;
    const delta = (name: string, labels: Record<string, string> = {}) =>
      valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(delta('wirthforge_daemon_ingest_events_total')).toBe(ingested);
    expect(delta('wirthforge_daemon_ingest_batches_total')).toBe(
      chunk(httpEvents, 60).length + chunk(wsEvents, 60).length,
    );

    // Every committed event by type: what was sent, the two sessions' start and end, and
    // the peaks and anomalies the analytics found (stored in their sessions).
    const expected = new Map<string, number>();
    for (const event of [...httpEvents, ...wsEvents])
      expected.set(event.type, (expected.get(event.type) ?? 0) + 1);
    const peaks = delta('wirthforge_analytics_peaks_total');
    const anomalies = delta('wirthforge_analytics_anomalies_total');
    const add = (type: string, n: number) => {
      if (n > 0) expected.set(type, (expected.get(type) ?? 0) + n);
    };
    add('energy.peak', peaks);
    add('energy.anomaly', anomalies);
    add('system.start', 2);
    add('system.end', 2);
    const committedBefore = byType(before, 'wirthforge_store_events_committed_total');
    const committed = new Map<string, number>();
    for (const [type, value] of byType(after, 'wirthforge_store_events_committed_total')) {
      const moved = value - (committedBefore.get(type) ?? 0);
      if (moved !== 0) committed.set(type, moved);
    }
    // Events of the user's stream (progress) are written by the store beside the sessions.
    const sessionTypes = new Map([...committed].filter(([type]) => expected.has(type)));
    expect(Object.fromEntries(sessionTypes)).toEqual(Object.fromEntries(expected));
    expect(delta('wirthforge_analytics_rollup_writes_total')).toBeGreaterThan(0);
    expect(delta('wirthforge_store_commits_total', { outcome: 'ok' })).toBeGreaterThan(0);
    expect(valueOf(after, 'process_memory_usage_bytes')).toBeGreaterThan(0);
  });

  it('reports job runs: durations per job and operation, failures counted', async () => {
    const scrapeJobs = async () => scrape(daemon);
    await daemon.scheduler.runNow('integrity-quick');
    await daemon.scheduler.runNow('wal-checkpoint');
    await daemon.scheduler.runNow('seal');
    const samples = await scrapeJobs();
    expect(
      valueOf(samples, 'wirthforge_daemon_job_duration_seconds_count', {
        job: 'integrity-quick',
        outcome: 'ok',
      }),
    ).toBe(1);
    expect(
      valueOf(samples, 'wirthforge_operation_duration_seconds_count', {
        operation: 'integrity_check',
        outcome: 'ok',
      }),
    ).toBe(1);
    // The checkpoint is measured once, by the instrumented storage.
    expect(
      valueOf(samples, 'wirthforge_operation_duration_seconds_count', {
        operation: 'checkpoint',
        outcome: 'ok',
      }),
    ).toBe(1);
    expect(valueOf(samples, 'wirthforge_daemon_job_failures_total', { job: 'seal' })).toBe(1);
    expect(
      valueOf(samples, 'wirthforge_operation_duration_seconds_count', {
        operation: 'seal',
        outcome: 'error',
      }),
    ).toBe(1);
    expect(
      valueOf(samples, 'wirthforge_errors_total', { error_type: 'Error', component: 'job.seal' }),
    ).toBe(1);
  });
});

describe('energy analytics as events commit', () => {
  it('stores the energy.peak of a planted spike in the session it belongs to, before the session ends', async () => {
    const id = await startSession(daemon, { userId: 'peaks' });
    // 14 seconds of the past at 60 Hz: past the detector's warm-up of 600 updates per model.
    const events = sessionEvents(id, 14, 21, true, Date.now() - 15_000);
    const updates = events.filter((e) => e.type === 'energy.update');
    const model = updates[0]!.data.model_id;
    const ofModel = updates.filter((e) => e.data.model_id === model);
    expect(ofModel.length).toBeGreaterThan(700);
    const original = ofModel[ofModel.length - 20]!;
    const highest = Math.max(...ofModel.map((e) => e.data.energy));
    const spike = { ...original, data: { ...original.data, energy: highest * 20 + 100 } };
    events[events.indexOf(original)] = spike;
    const peaksBefore = valueOf(await scrape(daemon), 'wirthforge_analytics_peaks_total');
    for (const batch of chunk(events, 500)) {
      const response = await api(daemon, 'POST', `/v1/sessions/${id}/events`, {
        body: { events: batch },
      });
      expect(response.status).toBe(200);
    }
    const end = await api<{ position: number }>(daemon, 'POST', `/v1/sessions/${id}/end`, {
      body: {},
    });
    expect(end.status).toBe(200);
    const found = valueOf(await scrape(daemon), 'wirthforge_analytics_peaks_total') - peaksBefore;
    expect(found).toBeGreaterThanOrEqual(1);

    const stored = await api<{
      events: {
        position: number;
        event: {
          session_id: string;
          frame_id: number;
          event_id?: string;
          data: { energy: number; threshold: number; model_id: string; context: string };
        };
      }[];
    }>(daemon, 'GET', `/v1/sessions/${id}/events?type=energy.peak&limit=5000`);
    const sent = new Set(events.map((e) => e.event_id));
    const detected = stored.body.events.filter((e) => !sent.has(e.event.event_id));
    expect(detected).toHaveLength(found);
    const planted = detected.find((e) => e.event.frame_id === spike.frame_id);
    expect(planted?.event.session_id).toBe(id);
    expect(planted?.event.data.model_id).toBe(model);
    expect(planted?.event.data.energy).toBeCloseTo(spike.data.energy, 9);
    expect(planted!.event.data.threshold).toBeLessThan(spike.data.energy);
    // Stored before the session's system.end.
    expect(planted!.position).toBeLessThan(end.body.position);
  }, 60_000);
});

describe('GET /v1/analytics/…', () => {
  it('answers rollups of a session per second, minute and hour equal to a recomputation', async () => {
    for (const [resolution, widthUs] of [
      ['second', 1_000_000],
      ['minute', 60_000_000],
      ['hour', 3_600_000_000],
    ] as const) {
      const response = await api<{ resolution: string; points: Point[] }>(
        daemon,
        'GET',
        `/v1/analytics/rollups?session=${httpSession}&resolution=${resolution}&to=${TO}`,
      );
      expect(response.status).toBe(200);
      expect(response.body.resolution).toBe(resolution);
      expectPoints(response.body.points, recompute(httpEvents, widthUs));
      expect(response.body.points.every((p) => p.sessions === 1)).toBe(true);
    }
  });

  it("answers a user's rollups over all their sessions, within a time range", async () => {
    const all = [...httpEvents, ...wsEvents];
    const response = await api<{ points: Point[] }>(
      daemon,
      'GET',
      `/v1/analytics/rollups?user=${USER}&resolution=second&to=${TO}`,
    );
    expect(response.status).toBe(200);
    expectPoints(response.body.points, recompute(all, 1_000_000));

    // A range: the second bucket up to (not including) the last.
    const starts = response.body.points.map((p) => p.bucketStartUs);
    expect(starts.length).toBeGreaterThan(2);
    const from = response.body.points[1]!.bucketStart;
    const to = response.body.points.at(-1)!.bucketStart;
    const ranged = await api<{ points: Point[]; from: string; to: string }>(
      daemon,
      'GET',
      `/v1/analytics/rollups?user=${USER}&resolution=second&from=${from}&to=${to}`,
    );
    expect(ranged.status).toBe(200);
    expectPoints(ranged.body.points, recompute(all, 1_000_000, starts[1], starts.at(-1)));
  });

  it('answers trends, usage per day and level progression', async () => {
    const window = 2;
    const trends = await api<{
      window: number;
      buckets: number;
      energy: { mean: number; slopePerStep: number };
      tokenRate: { mean: number };
    }>(
      daemon,
      'GET',
      `/v1/analytics/trends?session=${httpSession}&resolution=second&window=${window}&to=${TO}`,
    );
    expect(trends.status).toBe(200);
    const seconds = recompute(httpEvents, 1_000_000).slice(-window);
    expect(trends.body.buckets).toBe(seconds.length);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    expect(trends.body.energy.mean).toBeCloseTo(mean(seconds.map((s) => s.energySum)), 6);
    expect(trends.body.tokenRate.mean).toBeCloseTo(mean(seconds.map((s) => s.tokens)), 9);
    expect(trends.body.energy.slopePerStep).toBeCloseTo(
      seconds[1]!.energySum - seconds[0]!.energySum,
      6,
    );

    const usage = await api<{
      userId: string;
      days: { day: string; sessionsStarted: number; energy: number; tokens: number }[];
    }>(daemon, 'GET', `/v1/analytics/usage?user=${USER}&to=${TO}`);
    expect(usage.status).toBe(200);
    const all = [...httpEvents, ...wsEvents];
    const sum = (pick: (d: (typeof usage.body.days)[number]) => number) =>
      usage.body.days.reduce((total, d) => total + pick(d), 0);
    expect(sum((d) => d.sessionsStarted)).toBe(2);
    expect(sum((d) => d.tokens)).toBe(all.filter((e) => e.type === 'ai.output').length);
    expect(sum((d) => d.energy)).toBeCloseTo(
      all.reduce((total, e) => total + (e.type === 'energy.update' ? e.data.energy : 0), 0),
      4,
    );

    const levels = await api<{ levels: { level: number; sessionId: string; reachedAt: string }[] }>(
      daemon,
      'GET',
      `/v1/analytics/levels?user=${USER}`,
    );
    expect(levels.status).toBe(200);
    const unlocks: { level: number; session: string }[] = [];
    for await (const { event } of daemon.store.readStream(userStream(USER))) {
      if (event.type !== 'experience.level_unlock') continue;
      const unlock = event as { data: { level: number }; session_id: string };
      unlocks.push({ level: unlock.data.level, session: unlock.session_id });
    }
    expect(levels.body.levels.map((l) => ({ level: l.level, session: l.sessionId }))).toEqual(
      unlocks,
    );
  });

  it('needs the token', async () => {
    const response = await api<ErrorBody>(
      daemon,
      'GET',
      `/v1/analytics/rollups?session=${httpSession}`,
      { token: null },
    );
    expect(response.status).toBe(401);
  });

  it('refuses bad query parameters with a 400 that says what and where', async () => {
    const cases: [string, string][] = [
      [`/v1/analytics/rollups?session=${httpSession}&resolution=week`, '/query/resolution'],
      [`/v1/analytics/rollups?session=${httpSession}&from=yesterday`, '/query/from'],
      [`/v1/analytics/rollups?session=${httpSession}&to=2026-13-01T00:00:00Z`, '/query/to'],
      [
        `/v1/analytics/rollups?session=${httpSession}&from=2026-11-27T12:00:00Z&to=2026-11-27T11:00:00Z`,
        '/query/from',
      ],
      ['/v1/analytics/rollups?resolution=minute', '/query/session'],
      [`/v1/analytics/rollups?session=${httpSession}&user=${USER}`, '/query/session'],
      ['/v1/analytics/rollups?session=not-a-session', '/query/session'],
      [`/v1/analytics/trends?session=${httpSession}&window=0`, '/query/window'],
      [`/v1/analytics/usage?user=${USER}&offsetMinutes=x`, '/query/offsetMinutes'],
      ['/v1/analytics/levels?user=', '/query/user'],
      [`/v1/analytics/rollups?session=${httpSession}&colour=blue`, '/query/colour'],
    ];
    for (const [path, where] of cases) {
      const response = await api<ErrorBody>(daemon, 'GET', path);
      expect(response.status, path).toBe(400);
      expect(response.body.error.code, path).toBe('invalid_request');
      expect(
        response.body.error.issues?.map((i) => i.path),
        path,
      ).toContain(where);
      expect(response.body.error.message.length).toBeGreaterThan(0);
    }
    // The daemon is still up and answering.
    expect((await api(daemon, 'GET', '/healthz')).status).toBe(200);
  });
});
