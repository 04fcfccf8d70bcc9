import { encodeEvent, type EncodedEvent } from '@wirthforge/events';
import { anyEventArbitrary, storableValueArbitrary } from '@wirthforge/events/testing';
import type { StoredEventRecord } from '@wirthforge/storage';
import fc from 'fast-check';
import { pack } from 'msgpackr';

/** A MessagePack value to write by hand, floats as explicit bits (so NaN payloads survive). */
export type Token =
  | { readonly t: 'nil' }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'int'; readonly v: number }
  | { readonly t: 'f64'; readonly hi: number; readonly lo: number }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'arr'; readonly v: readonly Token[] }
  | { readonly t: 'map'; readonly v: readonly (readonly [string, Token])[] };

const text = new TextEncoder();

/** Writes the smallest standard form of each token, as `@wirthforge/events` does. */
export function writeToken(token: Token, out: number[]): void {
  switch (token.t) {
    case 'nil':
      out.push(0xc0);
      return;
    case 'bool':
      out.push(token.v ? 0xc3 : 0xc2);
      return;
    case 'int': {
      const v = token.v;
      if (v >= 0) {
        if (v < 0x80) out.push(v);
        else if (v < 0x100) out.push(0xcc, v);
        else if (v < 0x10000) out.push(0xcd, v >>> 8, v & 0xff);
        else out.push(0xce, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
      } else if (v >= -0x20) out.push(v & 0xff);
      else if (v >= -0x80) out.push(0xd0, v & 0xff);
      else if (v >= -0x8000) out.push(0xd1, (v >> 8) & 0xff, v & 0xff);
      else out.push(0xd2, (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
      return;
    }
    case 'f64':
      out.push(0xcb);
      for (const word of [token.hi, token.lo]) {
        out.push(word >>> 24, (word >>> 16) & 0xff, (word >>> 8) & 0xff, word & 0xff);
      }
      return;
    case 'str': {
      const bytes = text.encode(token.v);
      const n = bytes.length;
      if (n < 0x20) out.push(0xa0 | n);
      else if (n < 0x100) out.push(0xd9, n);
      else out.push(0xda, n >>> 8, n & 0xff);
      out.push(...bytes);
      return;
    }
    case 'arr': {
      const n = token.v.length;
      out.push(n < 0x10 ? 0x90 | n : 0xdc);
      if (n >= 0x10) out.push(n >>> 8, n & 0xff);
      for (const item of token.v) writeToken(item, out);
      return;
    }
    case 'map': {
      const n = token.v.length;
      out.push(n < 0x10 ? 0x80 | n : 0xde);
      if (n >= 0x10) out.push(n >>> 8, n & 0xff);
      for (const [key, value] of token.v) {
        writeToken({ t: 'str', v: key }, out);
        writeToken(value, out);
      }
      return;
    }
  }
}

const floatBits = new DataView(new ArrayBuffer(8));

function f64(value: number): Token {
  floatBits.setFloat64(0, value);
  return { t: 'f64', hi: floatBits.getUint32(0), lo: floatBits.getUint32(4) };
}

/**
 * Doubles that break coders: -0, NaN with payload bits, ±Infinity, subnormals, the
 * largest and smallest, integers past 2^53, and decimals with 0 to 6 places.
 */
export function adversarialDoubleArbitrary(): fc.Arbitrary<Token> {
  return fc.oneof(
    fc
      .constantFrom(
        -0,
        0,
        Infinity,
        -Infinity,
        Number.MAX_VALUE,
        -Number.MAX_VALUE,
        Number.MIN_VALUE,
        5e-324,
        2 ** 53,
        2 ** 53 + 2,
        -(2 ** 60),
        1e300,
        1e-300,
      )
      .map(f64),
    fc.double().map(f64),
    // Any bit pattern: NaNs with every payload, signalling or quiet.
    fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }))
      .map(([hi, lo]): Token => ({ t: 'f64', hi, lo })),
    fc.integer({ min: 0, max: 0xfffff }).map((payload): Token => ({
      t: 'f64',
      hi: 0x7ff00000 | payload | (payload === 0 ? 1 : 0),
      lo: 0xdeadbeef,
    })),
    fc
      .tuple(fc.integer({ min: -(10 ** 9), max: 10 ** 9 }), fc.integer({ min: 0, max: 6 }))
      .map(([n, e]) => f64(n / 10 ** e)),
  );
}

/** Strings: ASCII, any code point (surrogate pairs included, no lone surrogates), long ones. */
export function stringArbitrary(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom('', 'é', '日本語', '🔥⚡', 'ollama/llama3.2:3b', 'a'.repeat(300)),
  );
}

/** Any value as tokens, nested up to `depth`. */
export function tokenArbitrary(depth = 3): fc.Arbitrary<Token> {
  const { token } = fc.letrec<{ token: Token }>((tie) => ({
    token: fc.oneof(
      { depthSize: 'small', maxDepth: depth, withCrossShrink: true },
      fc.constant<Token>({ t: 'nil' }),
      fc.boolean().map((v): Token => ({ t: 'bool', v })),
      fc
        .oneof(
          fc.integer(),
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.integer({ min: -40, max: 300 }),
        )
        .map((v): Token => ({ t: 'int', v })),
      adversarialDoubleArbitrary(),
      stringArbitrary().map((v): Token => ({ t: 'str', v })),
      fc.array(tie('token'), { maxLength: 18 }).map((v): Token => ({ t: 'arr', v })),
      fc
        .array(fc.tuple(stringArbitrary(), tie('token')), { maxLength: 17 })
        .map((v): Token => ({ t: 'map', v })),
    ),
  }));
  return token;
}

/** A positional payload `[1, presence, ...values, extras?]` with adversarial values. */
export function positionalPayloadArbitrary(): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0, max: 0xffffffff })),
      fc.array(tokenArbitrary(2), { minLength: 32, maxLength: 32 }),
      fc.option(fc.array(fc.tuple(stringArbitrary(), tokenArbitrary(2)), { maxLength: 4 }), {
        nil: undefined,
      }),
    )
    .map(([presence, values, extras]) => {
      const items: Token[] = [
        { t: 'int', v: 1 },
        { t: 'int', v: presence },
      ];
      for (let bit = 0; bit < 32; bit++)
        if ((presence >>> bit) & 1) items.push(values[bit] as Token);
      if (extras !== undefined) items.push({ t: 'map', v: extras });
      const out: number[] = [];
      writeToken({ t: 'arr', v: items }, out);
      return Uint8Array.from(out);
    });
}

/** Payloads of every kind a stored event may carry. */
export function payloadArbitrary(): fc.Arbitrary<
  Omit<EncodedEvent, 'timestampUs'> & { timestampUs?: number }
> {
  const columns = { type: 'x.custom', schemaVersion: 1, frameId: undefined, eventId: undefined };
  return fc.oneof(
    {
      weight: 4,
      arbitrary: anyEventArbitrary({ extraFields: true }).map((event) => encodeEvent(event)),
    },
    {
      weight: 2,
      arbitrary: positionalPayloadArbitrary().map((payload) => ({ ...columns, payload })),
    },
    {
      weight: 1,
      arbitrary: tokenArbitrary(3).map((token) => {
        const out: number[] = [];
        writeToken(token, out);
        return { ...columns, type: 'x.map', payload: Uint8Array.from(out) };
      }),
    },
    // msgpackr's own forms (float 32, 64-bit integers, binary, records...) and plain garbage.
    {
      weight: 1,
      arbitrary: storableValueArbitrary(2).map((value) => ({
        ...columns,
        payload: Uint8Array.from(pack(value)),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 40 }).map((payload) => ({ ...columns, payload })),
    },
  );
}

/** Event ids: none, numbered like `<session>:<n>` or `evt_007`, or any string. */
export function eventIdArbitrary(): fc.Arbitrary<string | null> {
  return fc.oneof(
    fc.constant(null),
    fc.nat({ max: 10 ** 6 }).map((n) => `20250817T194800Z_001:${n}`),
    fc.nat({ max: 999 }).map((n) => `evt_${String(n).padStart(3, '0')}`),
    fc.constantFrom('0', '00', '9007199254740993', '12345678901234567890', 'x-0', 'x-'),
    stringArbitrary(),
  );
}

/** Closed, contiguous ranges of one stream's events, as storage returns them. */
export function storedRangeArbitrary(maxLength = 40): fc.Arbitrary<StoredEventRecord[]> {
  const event = fc.record({
    gap: fc.oneof(
      fc.constant(1),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 2 ** 40 }),
    ),
    payload: payloadArbitrary(),
    timestampUs: fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
      fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0),
    ),
    frameId: fc.oneof(
      fc.constant(null),
      fc.nat({ max: 1000 }),
      fc.constant(Number.MAX_SAFE_INTEGER),
    ),
    eventId: eventIdArbitrary(),
    schemaVersion: fc.oneof(fc.constant(undefined), fc.constantFrom(1, 2, 0x7fffffff)),
  });
  return fc
    .record({
      stream: fc.oneof(
        fc.constant('session-20250817T194800Z_001'),
        stringArbitrary().filter((s) => s.length > 0),
      ),
      firstPosition: fc.oneof(fc.constant(1n), fc.bigInt({ min: 1n, max: 2n ** 45n })),
      firstVersion: fc.oneof(fc.constant(1n), fc.bigInt({ min: 1n, max: 2n ** 45n })),
      events: fc.array(event, { minLength: 1, maxLength }),
    })
    .map(({ stream, firstPosition, firstVersion, events }) => {
      let position = firstPosition;
      let clock = 1_755_460_080_000_000;
      return events.map((spec, i): StoredEventRecord => {
        if (i > 0) position += BigInt(spec.gap);
        clock += 16_667;
        return {
          position,
          stream,
          version: firstVersion + BigInt(i),
          type: spec.payload.type,
          schemaVersion: spec.schemaVersion ?? spec.payload.schemaVersion,
          timestampUs: spec.timestampUs ?? spec.payload.timestampUs ?? clock,
          frameId: spec.frameId,
          eventId: spec.eventId,
          payload: spec.payload.payload,
        };
      });
    })
    .filter((events) => (events[events.length - 1] as StoredEventRecord).position < 2n ** 53n);
}

/** A record with its payload as hex, for deep equality that shows differences. */
export function comparable(record: StoredEventRecord): Record<string, unknown> {
  return { ...record, payload: Buffer.from(record.payload).toString('hex') };
}
