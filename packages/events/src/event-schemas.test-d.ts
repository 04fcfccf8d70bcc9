// Type tests: checked by `tsc` (the typecheck script), not run.
import { expectTypeOf } from 'vitest';
import type { EncodedEvent, EventRecord } from './event-codec.js';
import type {
  EventData,
  EventEnvelope,
  EventOfType,
  EventType,
  WirthforgeEvent,
} from './event-schemas.js';
import type { UnknownEvent } from './unknown-event.js';
import { assertEvent, validateEvent } from './validate-event.js';
import { decodeEvent } from './event-codec.js';
import { isUnknownEvent } from './unknown-event.js';

declare const event: WirthforgeEvent;
declare const input: unknown;

// The union is discriminated by `type`.
if (event.type === 'energy.update') {
  expectTypeOf(event).toEqualTypeOf<EventOfType<'energy.update'>>();
  expectTypeOf(event.frame_id).toEqualTypeOf<number>();
  expectTypeOf(event.data.energy).toEqualTypeOf<number>();
  expectTypeOf(event.data.fps).toEqualTypeOf<number | undefined>();
}
if (event.type === 'user.prompt') {
  expectTypeOf(event.frame_id).toEqualTypeOf<number | undefined>();
  expectTypeOf(event.data.interface).toEqualTypeOf<'text' | 'voice' | 'gesture' | 'api'>();
}

expectTypeOf<EventData<'model.switched'>>().toMatchTypeOf<{
  from_model_id: string;
  to_model_id: string;
}>();
expectTypeOf<EventData<'session.recovered'>['recovered_from']>().toEqualTypeOf<{
  snapshot_id?: number;
  position: number;
  version: number;
}>();
expectTypeOf<EventData<'system.start'>['config']>().toEqualTypeOf<
  Record<string, unknown> | undefined
>();
expectTypeOf<EventType>().toEqualTypeOf<WirthforgeEvent['type']>();

// With exactOptionalPropertyTypes, optional fields may be absent but not undefined.
// @ts-expect-error event_id may not be set to undefined
const _withUndefined: EventOfType<'user.action'> = {
  session_id: '20250817T194800Z_001',
  timestamp: '2025-08-17T19:52:15.400000Z',
  type: 'user.action',
  event_id: undefined,
  data: { action: 'stop' },
};

// Every known event is an envelope.
expectTypeOf<WirthforgeEvent>().toMatchTypeOf<EventEnvelope>();

// validateEvent narrows on status.
const result = validateEvent(input);
if (result.status === 'valid') expectTypeOf(result.event).toEqualTypeOf<WirthforgeEvent>();
if (result.status === 'unknown_type') expectTypeOf(result.event).toEqualTypeOf<UnknownEvent>();
if (result.status === 'invalid') expectTypeOf(result).not.toHaveProperty('event');

// assertEvent narrows its argument.
assertEvent(input);
expectTypeOf(input).toEqualTypeOf<WirthforgeEvent>();

// decodeEvent: an unknown type must be excluded before reading data.
declare const record: EventRecord;
const decoded = decodeEvent(record, { sessionId: '20250817T194800Z_001' });
if (!isUnknownEvent(decoded)) expectTypeOf(decoded).toEqualTypeOf<WirthforgeEvent>();

// EncodedEvent fits what storage takes for a new event.
expectTypeOf<EncodedEvent>().toMatchTypeOf<{
  type: string;
  schemaVersion: number;
  timestampUs: number;
  frameId?: number | undefined;
  eventId?: string | undefined;
  payload: Uint8Array;
}>();
expectTypeOf<EncodedEvent>().toMatchTypeOf<EventRecord>();
