import type { Kysely } from 'kysely';

import type { AuditRow, Database } from '../database.js';

/** One audit line as the repository returns it. */
export interface AuditRecord {
  readonly id: number;
  readonly timestampUs: number;
  readonly actor: string;
  readonly action: string;
  readonly target: string | null;
  /** The stored JSON text, parsed; a string that is not JSON comes back as is. */
  readonly details: unknown;
}

/** Filters of {@link AuditRepository.list}. */
export interface AuditListOptions {
  /** Inclusive. */
  readonly fromUs?: number;
  /** Inclusive. */
  readonly toUs?: number;
  readonly actor?: string;
  readonly action?: string;
  /** Default 1000. */
  readonly limit?: number;
  /** Only lines with a greater id (for paging). */
  readonly afterId?: number;
}

/**
 * Reads the audit trail, oldest first. Lines are written as `audit.insert` row writes.
 *
 * @example
 * ```ts
 * const lines = await new AuditRepository(storage.db).list({ action: 'purge' });
 * ```
 */
export class AuditRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Audit lines matching every given filter, by id. */
  async list(options: AuditListOptions = {}): Promise<AuditRecord[]> {
    let query = this.db.selectFrom('audit').selectAll();
    if (options.fromUs !== undefined) query = query.where('timestamp_us', '>=', options.fromUs);
    if (options.toUs !== undefined) query = query.where('timestamp_us', '<=', options.toUs);
    if (options.actor !== undefined) query = query.where('actor', '=', options.actor);
    if (options.action !== undefined) query = query.where('action', '=', options.action);
    if (options.afterId !== undefined) query = query.where('id', '>', options.afterId);
    const rows = await query
      .orderBy('id')
      .limit(options.limit ?? 1000)
      .execute();
    return rows.map(toRecord);
  }
}

function parseDetails(details: string | null): unknown {
  if (details === null) return null;
  try {
    return JSON.parse(details) as unknown;
  } catch {
    return details;
  }
}

function toRecord(row: AuditRow): AuditRecord {
  return {
    id: row.id,
    timestampUs: row.timestamp_us,
    actor: row.actor,
    action: row.action,
    target: row.target,
    details: parseDetails(row.details),
  };
}
