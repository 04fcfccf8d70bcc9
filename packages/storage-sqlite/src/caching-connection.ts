/**
 * A connection that prepares each SQL text once: a read page runs the same handful of
 * small statements (head position, segment span, archive catalog, the hot rows) every
 * time, and preparing one costs as much as running it.
 */
import type { SqliteConnection, SqliteStatement } from './sqlite-connection.js';

/** Prepared statements kept per connection: enough for every statement a reader runs. */
const MAX_CACHED_STATEMENTS = 64;

/**
 * Wraps `connection` so that `prepare` answers a statement prepared before for the same
 * text. Callers set `pluck`/`raw` on every use (a statement is shared between calls).
 *
 * @example
 * ```ts
 * const reads = new CachingConnection(connection);
 * const head = reads.prepare('select max(position) from events').pluck().get();
 * ```
 */
export class CachingConnection implements SqliteConnection {
  private readonly statements = new Map<string, SqliteStatement>();

  constructor(private readonly connection: SqliteConnection) {}

  get open(): boolean {
    return this.connection.open;
  }

  get inTransaction(): boolean {
    return this.connection.inTransaction;
  }

  get readonly(): boolean {
    return this.connection.readonly;
  }

  get name(): string {
    return this.connection.name;
  }

  prepare(sql: string): SqliteStatement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.clear();
      statement = this.connection.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  exec(sql: string): this {
    this.connection.exec(sql);
    return this;
  }

  pragma(source: string, options?: { simple?: boolean }): unknown {
    return this.connection.pragma(source, options);
  }

  /** Closes the underlying connection. */
  close(): this {
    this.statements.clear();
    this.connection.close();
    return this;
  }
}
