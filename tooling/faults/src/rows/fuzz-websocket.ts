import fc from 'fast-check';
import { STREAM_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '@wirthforge/daemon';
import { type FaultRow } from '../fault-row.js';
import { hostileValue, jsonTextArbitrary, validEventPool } from '../fuzz/event-arbitraries.js';
import {
  ACCEPTED,
  fuzzSurface,
  inputsFor,
  preview,
  REJECTED,
  reportTally,
  type Verdict,
} from '../fuzz/fuzz-loop.js';
import { judgeIngest, type DaemonErrorShape } from '../fuzz/ingest-oracle.js';
import { RawWebSocket, type ClientFrame } from '../fuzz/raw-websocket.js';
import { FUZZ_BODY_LIMIT, fuzzDaemon, ingestBodyArbitrary, readStored } from './fuzz-http.js';

const TEXT = 0x1;
const BINARY = 0x2;
const CONTINUATION = 0x0;
const PING = 0x9;
const PONG = 0xa;
const CLOSE = 0x8;

/** One generated input: a message (one text frame of JSON, maybe damaged), or frames that break the protocol. */
type WsInput =
  | { readonly kind: 'message'; readonly text: Buffer }
  | {
      readonly kind: 'frames';
      readonly name: string;
      readonly frames: readonly ClientFrame[];
      /** Close codes the server may answer with (RFC 6455 §7.4.1); `reply` when a message is due instead. */
      readonly expect: readonly (number | 'reply' | 'pong')[];
    };

function protocolInputs(session: string): fc.Arbitrary<WsInput> {
  const ingest = Buffer.from(JSON.stringify({ op: 'ingest', id: 'p', session, events: [] }));
  return fc.oneof(
    fc.constant<WsInput>({
      kind: 'frames',
      name: 'binary frame',
      frames: [{ opcode: BINARY, payload: ingest }],
      expect: ['reply'],
    }),
    fc
      .tuple(fc.nat(), fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]))
      .map(([n, bytes]): WsInput => {
        const at = n % ingest.length;
        const payload = Buffer.concat([
          ingest.subarray(0, at),
          Buffer.from(bytes),
          ingest.subarray(at),
        ]);
        return {
          kind: 'frames',
          name: 'text frame not UTF-8',
          frames: [{ opcode: TEXT, payload }],
          expect: [1007],
        };
      }),
    fc.constant<WsInput>({
      kind: 'frames',
      name: 'unmasked frame',
      frames: [{ opcode: TEXT, payload: ingest, masked: false }],
      expect: [1002],
    }),
    fc.integer({ min: 1, max: 7 }).map((rsv): WsInput => ({
      kind: 'frames',
      name: `reserved bits ${rsv}`,
      frames: [{ opcode: TEXT, payload: ingest, rsv }],
      expect: [1002],
    })),
    fc.constantFrom(0x3, 0x4, 0x7, 0xb, 0xf).map((opcode): WsInput => ({
      kind: 'frames',
      name: `reserved opcode ${opcode}`,
      frames: [{ opcode, payload: ingest }],
      expect: [1002],
    })),
    fc.integer({ min: 1, max: 40 }).map((cut): WsInput => {
      const at = Math.min(cut, ingest.length - 1);
      return {
        kind: 'frames',
        name: 'fragmented text message',
        frames: [
          { opcode: TEXT, payload: ingest.subarray(0, at), fin: false },
          { opcode: CONTINUATION, payload: ingest.subarray(at) },
        ],
        expect: ['reply'],
      };
    }),
    fc.constant<WsInput>({
      kind: 'frames',
      name: 'continuation without a start',
      frames: [{ opcode: CONTINUATION, payload: ingest }],
      expect: [1002],
    }),
    fc.integer({ min: FUZZ_BODY_LIMIT + 1, max: FUZZ_BODY_LIMIT * 3 }).map((n): WsInput => ({
      kind: 'frames',
      name: `text frame of ${n} bytes (limit ${FUZZ_BODY_LIMIT})`,
      frames: [{ opcode: TEXT, payload: Buffer.alloc(n, 0x20) }],
      expect: [1009],
    })),
    fc.constant<WsInput>({
      kind: 'frames',
      name: 'ping',
      frames: [{ opcode: PING, payload: Buffer.from('fuzz') }],
      expect: ['pong'],
    }),
    fc.constant<WsInput>({
      kind: 'frames',
      name: 'control frame over 125 bytes',
      frames: [{ opcode: PING, payload: Buffer.alloc(200, 0x61) }],
      expect: [1002],
    }),
  );
}

/**
 * The daemon's WebSocket (`/v1/stream`) over a real TCP socket to an in-process daemon,
 * with a client written on `node:net` so that frames can be wrong: ingest messages
 * built like the HTTP row's bodies (valid and mutated batches, damaged JSON text, other
 * shapes and ops), and frames that break RFC 6455 (binary, not UTF-8, unmasked,
 * reserved bits and opcodes, fragments, over the limit, oversized control frames). Each
 * message gets its answer (an `ack` that reads back as sent, or an `error` that says
 * what and where); each broken frame a close with the code RFC 6455 gives it; never an
 * `internal` error, a dropped connection without a close, or silence.
 */
export const fuzzWebSocketRow: FaultRow = {
  id: 'input.ws',
  fault: 'generated WebSocket messages and broken frames (real socket, in-process daemon)',
  async run(ctx, result) {
    const fuzzed = await fuzzDaemon('ws');
    const { daemon, session } = fuzzed;
    let ws: RawWebSocket | undefined;
    const protocols = [STREAM_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${daemon.token}`];
    const connection = async (): Promise<RawWebSocket> => {
      if (ws === undefined || ws.ended || ws.closeCode !== undefined) {
        ws?.destroy();
        ws = await RawWebSocket.open(daemon.url, '/v1/stream', protocols);
      }
      return ws;
    };
    let reconnects = 0;
    try {
      const pool = validEventPool(session, false);
      const message = fc.oneof(
        {
          arbitrary: fc.tuple(ingestBodyArbitrary(pool), fc.nat()).map(([body, id]) => ({
            op: 'ingest',
            id,
            session,
            events: (body as { events?: unknown } | null)?.events ?? body,
          })),
          weight: 12,
        },
        {
          arbitrary: fc
            .tuple(hostileValue, hostileValue)
            .map(([op, events]) => ({ op, id: 1, session, events })),
          weight: 1,
        },
        { arbitrary: hostileValue, weight: 1 },
      );
      const input: fc.Arbitrary<WsInput> = fc.oneof(
        {
          arbitrary: jsonTextArbitrary(message).map((text): WsInput => ({ kind: 'message', text })),
          weight: 8,
        },
        { arbitrary: protocolInputs(session), weight: 1 },
      );
      const runs = inputsFor(ctx.long, 1_500);
      const tally = await fuzzSurface({
        arbitrary: input,
        runs,
        seed: 0x3b5,
        timeoutMs: 30_000,
        describe: (i) => (i.kind === 'message' ? preview(i.text) : i.name),
        attempt: async (i): Promise<Verdict> => {
          const socket = await connection();
          const from = socket.frames.length;
          if (i.kind === 'frames') {
            for (const frame of i.frames) socket.send(frame);
            const answer = await socket.next(from, (f) => f.opcode !== CONTINUATION, 10_000);
            if (answer === 'timeout')
              return { kind: 'crash', detail: `no answer to ${i.name} in 10 s` };
            if (answer === 'closed')
              return {
                kind: 'crash',
                detail: `${i.name}: connection dropped without a close frame`,
              };
            if (answer.opcode === CLOSE) {
              reconnects += 1;
              return i.expect.includes(socket.closeCode ?? -1)
                ? REJECTED
                : {
                    kind: 'violation',
                    detail: `${i.name}: closed with ${socket.closeCode}, expected ${i.expect.join(' or ')}`,
                  };
            }
            if (answer.opcode === PONG)
              return i.expect.includes('pong')
                ? ACCEPTED
                : { kind: 'violation', detail: `${i.name}: a pong` };
            const reply = JSON.parse(answer.payload.toString('utf8')) as {
              op?: string;
              error?: DaemonErrorShape;
            };
            if (!i.expect.includes('reply'))
              return {
                kind: 'violation',
                detail: `${i.name}: answered ${preview(reply)} instead of closing`,
              };
            if (reply.op === 'error' && reply.error?.code === 'internal')
              return { kind: 'crash', detail: `${i.name}: internal error` };
            return reply.op === 'error' ? REJECTED : ACCEPTED;
          }
          socket.send({ opcode: TEXT, payload: i.text });
          const answer = await socket.next(
            from,
            (f) => f.opcode === TEXT || f.opcode === CLOSE,
            20_000,
          );
          if (answer === 'timeout') return { kind: 'crash', detail: 'no answer in 20 s' };
          if (answer === 'closed')
            return { kind: 'crash', detail: 'connection dropped without a close frame' };
          if (answer.opcode === CLOSE) {
            reconnects += 1;
            // Only text that is not UTF-8 may close the connection (1007), or a message over the limit (1009).
            return socket.closeCode === 1007 || socket.closeCode === 1009
              ? REJECTED
              : { kind: 'violation', detail: `closed with ${socket.closeCode}` };
          }
          const reply = JSON.parse(answer.payload.toString('utf8')) as {
            op?: string;
            positions?: number[];
            error?: DaemonErrorShape;
          };
          return judgeIngest(
            // The events judged are the message's `events`: rewrap as an ingest body.
            wrapEvents(i.text),
            session,
            reply.op === 'ack' && Array.isArray(reply.positions)
              ? { kind: 'ack', positions: reply.positions }
              : {
                  kind: 'error',
                  status: reply.error?.code === 'internal' ? 500 : 400,
                  error: reply.error,
                },
            (position) => readStored(daemon, session, position),
          );
        },
        progress: (t) => ctx.log(`input.ws: ${t.inputs} inputs`),
      });
      reportTally(result, 'WebSocket', tally);
      result.notes.push(
        `WebSocket: the daemon closed the connection ${reconnects} times (each answered with a close code)`,
      );
    } finally {
      ws?.destroy();
      await fuzzed.close();
    }
  },
};

/** `{ events }` of an ingest message's text (the text as it is when it is not an object). */
function wrapEvents(text: Buffer): Buffer {
  try {
    const message = JSON.parse(text.toString('utf8')) as {
      op?: unknown;
      session?: unknown;
      events?: unknown;
    } | null;
    if (message?.op !== 'ingest' || typeof message.session !== 'string') return text;
    return Buffer.from(JSON.stringify({ events: message.events }));
  } catch {
    return text;
  }
}
