import type { SessionUpsert } from '@wirthforge/storage';
import { parseIsoMicros } from '@wirthforge/events';
import type { SimEvent } from '@wirthforge/simulator';

/**
 * Folds a session's events into its `sessions` row, handed to `appendBatch` as a
 * `session.upsert` write so the row commits in the same transaction as the events it
 * counts.
 */
export class SessionProjection {
  #startedUs: number | undefined;
  #endedUs: number | null = null;
  #cleanEnd: boolean | null = null;
  #userId = 'default';
  #events = 0;
  #energyMilli = 0;
  #tokens = 0;
  #lastUs = 0;

  constructor(
    readonly sessionId: string,
    readonly stream: string,
  ) {}

  /** Applies events in order. */
  apply(events: readonly SimEvent[]): void {
    for (const event of events) {
      const us = parseIsoMicros(event.timestamp);
      this.#lastUs = us;
      this.#events++;
      switch (event.type) {
        case 'system.start':
          this.#startedUs = us;
          this.#userId = event.data.user_id;
          break;
        case 'energy.update':
          // Integer milli-EU, so the total is the exact sum of three-decimal energies.
          this.#energyMilli += Math.round(event.data.energy * 1000);
          break;
        case 'ai.output':
          this.#tokens++;
          break;
        case 'system.end':
          this.#endedUs = us;
          this.#cleanEnd = event.data.clean_shutdown;
          break;
        default:
          break;
      }
    }
  }

  /** Events applied so far. */
  get totalEvents(): number {
    return this.#events;
  }

  /** Energy of every `energy.update` applied so far. */
  get totalEnergy(): number {
    return this.#energyMilli / 1000;
  }

  /** The row as it stands after the events applied so far. */
  toUpsert(): SessionUpsert {
    return {
      kind: 'session.upsert',
      sessionId: this.sessionId,
      stream: this.stream,
      userId: this.#userId,
      status: this.#endedUs === null ? 'active' : 'ended',
      startedUs: this.#startedUs ?? this.#lastUs,
      endedUs: this.#endedUs,
      cleanEnd: this.#cleanEnd,
      totalEvents: this.#events,
      totalEnergy: this.totalEnergy,
      totalTokens: this.#tokens,
      updatedUs: this.#lastUs,
    };
  }
}
