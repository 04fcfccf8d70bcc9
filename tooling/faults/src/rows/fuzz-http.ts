import fc from 'fast-check';
import { createDaemonLogger, daemonConfig, startDaemon, type Daemon } from '@wirthforge/daemon';
import { type FaultRow } from '../fault-row.js';
import {
  batchArbitrary,
  hostileValue,
  jsonTextArbitrary,
  validEventPool,
  type Loose,
} from '../fuzz/event-arbitraries.js';
import {
  fuzzSurface,
  inputsFor,
  preview,
  reportTally,
  scratchDir,
  type Verdict,
} from '../fuzz/fuzz-loop.js';
import { judgeIngest, type DaemonErrorShape } from '../fuzz/ingest-oracle.js';

/** The body limit of the fuzzed daemon: small, so that the huge values pass it now and then. */
export const FUZZ_BODY_LIMIT = 256 * 1024;

/** An in-process daemon (FULL, on /dev/shm when there is one) with one active session. */
export async function fuzzDaemon(
  prefix: string,
): Promise<{ daemon: Daemon; session: string; close(): Promise<void> }> {
  const tmp = scratchDir(prefix);
  const daemon = await startDaemon(
    daemonConfig({
      dataDir: tmp.dir,
      port: 0,
      bodyLimitBytes: FUZZ_BODY_LIMIT,
      logLevel: 'silent',
    }),
    { logger: createDaemonLogger('silent') },
  );
  try {
    const started = await daemon.server.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { authorization: `Bearer ${daemon.token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ userId: 'fuzz' }),
    });
    const session = (JSON.parse(started.body) as { session: string }).session;
    return {
      daemon,
      session,
      async close() {
        await daemon.stop('fuzz done');
        tmp.remove();
      },
    };
  } catch (error) {
    await daemon.stop('fuzz failed');
    tmp.remove();
    throw error;
  }
}

/** The bodies a producer may send: batches (mostly), other shapes, and not JSON at all. */
export function ingestBodyArbitrary(pool: readonly Record<string, unknown>[]): fc.Arbitrary<Loose> {
  const batch = batchArbitrary(pool);
  return fc.oneof(
    { arbitrary: batch.map((events) => ({ events })), weight: 12 },
    { arbitrary: batch, weight: 1 },
    {
      arbitrary: fc
        .tuple(batch, fc.string({ minLength: 1, maxLength: 8 }), hostileValue)
        .map(([events, key, value]) => ({ events, [key]: value })),
      weight: 1,
    },
    { arbitrary: hostileValue.map((events) => ({ events })), weight: 1 },
    { arbitrary: hostileValue, weight: 1 },
  );
}

/** A stored event of the daemon, by global position (what `GET …/events?from=` returns). */
export async function readStored(
  daemon: Daemon,
  session: string,
  position: number,
): Promise<Record<string, unknown> | undefined> {
  const answer = await daemon.server.inject({
    method: 'GET',
    url: `/v1/sessions/${session}/events?from=${position}&limit=1`,
    headers: { authorization: `Bearer ${daemon.token}` },
  });
  const page = JSON.parse(answer.body) as {
    events?: { position: number; event: Record<string, unknown> }[];
  };
  const record = page.events?.[0];
  return record?.position === position ? record.event : undefined;
}

/**
 * `POST /v1/sessions/:id/events` of an in-process daemon (fastify's `inject`: the whole
 * route — content-type parser, UTF-8 check, schema, the session service, the store —
 * without a socket) under generated bodies: batches of valid and mutated events, other
 * shapes, JSON text with bad UTF-8, cuts, NaN/Infinity/1e999, huge numbers, 200 000
 * levels, bodies over the limit, other media types. No 5xx, no exception; an
 * acknowledged batch is valid and reads back as sent; a refusal says what and where.
 */
export const fuzzHttpRow: FaultRow = {
  id: 'input.http',
  fault: 'generated bodies to HTTP ingest (in-process daemon, every route layer)',
  async run(ctx, result) {
    const fuzzed = await fuzzDaemon('http');
    const { daemon, session } = fuzzed;
    try {
      const pool = validEventPool(session, false);
      const body = fc.tuple(
        jsonTextArbitrary(ingestBodyArbitrary(pool)),
        fc.oneof(
          { arbitrary: fc.constant('application/json'), weight: 20 },
          {
            arbitrary: fc.constantFrom(
              'application/json; charset=latin1',
              'application/msgpack',
              'text/plain',
              'application/x-www-form-urlencoded',
            ),
            weight: 1,
          },
        ),
      );
      const runs = inputsFor(ctx.long, 5_000);
      const tally = await fuzzSurface({
        arbitrary: body,
        runs,
        seed: 0x477,
        timeoutMs: 30_000,
        describe: ([bytes, type]) => `${type} ${preview(bytes)}`,
        attempt: async ([bytes, type]): Promise<Verdict> => {
          const answer = await daemon.server.inject({
            method: 'POST',
            url: `/v1/sessions/${session}/events`,
            headers: { authorization: `Bearer ${daemon.token}`, 'content-type': type },
            payload: bytes,
          });
          let parsed: { positions?: number[]; error?: DaemonErrorShape } | undefined;
          try {
            parsed = JSON.parse(answer.body) as typeof parsed;
          } catch {
            parsed = undefined;
          }
          return judgeIngest(
            bytes,
            session,
            answer.statusCode === 200 && Array.isArray(parsed?.positions)
              ? { kind: 'ack', positions: parsed.positions }
              : { kind: 'error', status: answer.statusCode, error: parsed?.error },
            (position) => readStored(daemon, session, position),
          );
        },
        progress: (t) => ctx.log(`input.http: ${t.inputs} inputs`),
      });
      reportTally(result, 'HTTP ingest', tally);
      const health = await daemon.server.inject({
        method: 'GET',
        url: '/healthz',
        headers: { authorization: `Bearer ${daemon.token}` },
      });
      if (health.statusCode !== 200)
        result.problems.push(`/healthz answered ${health.statusCode} after the generated bodies`);
    } finally {
      await fuzzed.close();
    }
  },
};
