import type { Kysely } from 'kysely';

import type { Database, UserRow } from '../database.js';

/** A user's progress as the repository returns it. */
export interface UserRecord {
  readonly userId: string;
  readonly level: number;
  readonly xp: number;
  readonly totalEnergy: number;
  readonly sessionsCount: number;
  readonly updatedUs: number;
}

/**
 * Reads user progress. Writes go through the writer as `user.upsert` row writes.
 *
 * @example
 * ```ts
 * const user = await new UserRepository(storage.db).get('default');
 * ```
 */
export class UserRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** One user by id. */
  async get(userId: string): Promise<UserRecord | undefined> {
    const row = await this.db
      .selectFrom('users')
      .selectAll()
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  /** Every user, by id. */
  async list(): Promise<UserRecord[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('user_id').execute();
    return rows.map(toRecord);
  }
}

function toRecord(row: UserRow): UserRecord {
  return {
    userId: row.user_id,
    level: row.level,
    xp: row.xp,
    totalEnergy: row.total_energy,
    sessionsCount: row.sessions_count,
    updatedUs: row.updated_us,
  };
}
