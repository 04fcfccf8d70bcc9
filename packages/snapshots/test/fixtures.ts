import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toIsoMicros, type EventOfType, type WirthforgeEvent } from '@wirthforge/events';
import {
  createEventStore,
  foldEvents,
  stateHash,
  type EventStore,
  type Projection,
  type StoreRecord,
} from '@wirthforge/eventstore';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';

export const MODELS = ['ollama/llama2:7b', 'ollama/mistral:7b'] as const;

/** Events of one session: frames of energy updates, prompts, tokens and peaks, 1 ms apart. */
export class SessionBuilder {
  #us: number;
  #frame = 0;
  #prompt = 0;

  constructor(
    readonly sessionId: string,
    startUs = 1_755_460_080_000_000,
  ) {
    this.#us = startUs;
  }

  get stream(): string {
    return `session-${this.sessionId}`;
  }

  get frame(): number {
    return this.#frame;
  }

  #base(): { session_id: string; timestamp: string } {
    const timestamp = toIsoMicros(this.#us);
    this.#us += 1000;
    return { session_id: this.sessionId, timestamp };
  }

  start(): EventOfType<'system.start'> {
    return {
      ...this.#base(),
      type: 'system.start',
      data: { version: '1.0.0', user_id: 'ada', mode: 'offline' },
    };
  }

  end(): EventOfType<'system.end'> {
    return {
      ...this.#base(),
      type: 'system.end',
      data: { duration_ms: 1000, clean_shutdown: true, reason: 'user_exit' },
    };
  }

  /** One frame: an update per model, now and then a prompt, a token, a peak. */
  nextFrame(): WirthforgeEvent[] {
    const frame = ++this.#frame;
    const events: WirthforgeEvent[] = MODELS.map((model_id, i) => ({
      ...this.#base(),
      type: 'energy.update',
      frame_id: frame,
      data: {
        energy: ((frame * 7 + i * 13) % 97) / 10 - (frame % 11 === 0 ? 0 : 0),
        accumulator: 0,
        model_id,
      },
    }));
    if (frame % 17 === 0) {
      const prompt_id = `p${++this.#prompt}`;
      events.push({
        ...this.#base(),
        type: 'user.prompt',
        data: { prompt_id, interface: 'text', truncated: false },
      });
      events.push({
        ...this.#base(),
        type: 'ai.output',
        data: { prompt_id, token_index: 0, is_last: true, model_id: MODELS[0] },
      });
    }
    if (frame % 23 === 0) {
      events.push({
        ...this.#base(),
        type: 'energy.peak',
        frame_id: frame,
        data: { energy: 50 + (frame % 31), threshold: 40, model_id: MODELS[1] },
      });
    }
    return events;
  }

  frames(count: number): WirthforgeEvent[] {
    const out: WirthforgeEvent[] = [];
    for (let i = 0; i < count; i++) out.push(...this.nextFrame());
    return out;
  }
}

/** A temporary directory and its removal. */
export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'wf-snapshots-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function openStore(path: string): Promise<EventStore> {
  return createEventStore({ storage: await openSqliteStorage({ path }) });
}

/** The states of `projections` folded from the stream's events (a full replay), up to `to`. */
export async function replay(
  store: EventStore,
  stream: string,
  projections: readonly Projection<unknown>[],
  until: (record: StoreRecord) => boolean = () => true,
): Promise<Record<string, unknown>> {
  const records: StoreRecord[] = [];
  for await (const record of store.readStream(stream)) {
    if (!until(record)) break;
    records.push(record);
  }
  const out: Record<string, unknown> = {};
  for (const projection of projections) out[projection.name] = foldEvents(projection, records);
  return out;
}

export async function replayHash(
  store: EventStore,
  stream: string,
  projections: readonly Projection<unknown>[],
  until?: (record: StoreRecord) => boolean,
): Promise<string> {
  return stateHash(await replay(store, stream, projections, until));
}
