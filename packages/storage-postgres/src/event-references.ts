/**
 * The references of `events` to `streams` and `event_types`, checked once per statement.
 *
 * The shared migrations declare them as foreign keys. PostgreSQL checks a foreign key row
 * by row, each row with its own lookup and row lock; for the multi-row inserts of an
 * append that is most of the statement's time (5,000 rows: 189–247 ms with the two keys,
 * 29–39 ms without, on a loaded 2-core machine). On PostgreSQL they are replaced by
 * statement triggers over the transition tables: one set-based check per statement that
 * locks the referenced rows (`for key share`, as the foreign key does) and raises
 * SQLSTATE 23503 (`foreign_key_violation`, the same code) when a row refers to nothing;
 * and, on the parent side, a delete or an id change of a stream or type that events
 * still refer to is refused the same way.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/** Name of the insert trigger: its presence says the schema has been converted. */
const MARKER_TRIGGER = 'wf_events_references_insert';
/**
 * Comment of the child check's function: the version of its body. A schema converted by
 * an earlier version gets the current bodies when opened.
 */
const BODY_VERSION = 'wf_events_references v2';

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function statements(schema: string): string[] {
  const s = quoteIdent(schema);
  const fn = (body: string, name: string, declare = ''): string =>
    `create or replace function ${s}.${name}() returns trigger language plpgsql
     set search_path = ${s} as $wf$
     ${declare}
     begin
       ${body}
       return null;
     end $wf$`;
  // One pass over the new rows for the ids they name, then one locking read per table
  // that counts what it found (four passes over the rows before: 0.7 ms of a 1.6 ms
  // insert of 240 events).
  const childCheck = `
    select array_agg(distinct stream_id), array_agg(distinct type_id) into streams_named, types_named
    from wf_new;
    if (select count(*) from (select 1 from streams where id = any(streams_named) for key share) s)
        <> coalesce(cardinality(streams_named), 0) then
      raise foreign_key_violation using message =
        'insert or update on table "events" refers to a stream that does not exist (stream_id)';
    end if;
    if (select count(*) from (select 1 from event_types where id = any(types_named) for key share) t)
        <> coalesce(cardinality(types_named), 0) then
      raise foreign_key_violation using message =
        'insert or update on table "events" refers to an event type that does not exist (type_id)';
    end if;`;
  const parentCheck = (table: string, column: string): string => `
    if exists (select 1 from wf_old o
               where not exists (select 1 from ${table} p where p.id = o.id)
                 and exists (select 1 from events e where e.${column} = o.id)) then
      raise foreign_key_violation using message =
        'delete or update on table "${table}" removes a row that events refer to (${column})';
    end if;`;
  return [
    fn(childCheck, 'wf_events_references', 'declare streams_named int4[]; types_named int4[];'),
    fn(parentCheck('streams', 'stream_id'), 'wf_streams_referenced'),
    fn(parentCheck('event_types', 'type_id'), 'wf_event_types_referenced'),
    `alter table ${s}.events drop constraint if exists events_stream_id_fkey`,
    `alter table ${s}.events drop constraint if exists events_type_id_fkey`,
    `drop trigger if exists wf_events_references_update on ${s}.events`,
    `create trigger wf_events_references_update after update on ${s}.events
       referencing new table as wf_new for each statement
       execute function ${s}.wf_events_references()`,
    `drop trigger if exists wf_streams_referenced_delete on ${s}.streams`,
    `create trigger wf_streams_referenced_delete after delete on ${s}.streams
       referencing old table as wf_old for each statement
       execute function ${s}.wf_streams_referenced()`,
    `drop trigger if exists wf_streams_referenced_update on ${s}.streams`,
    `create trigger wf_streams_referenced_update after update on ${s}.streams
       referencing old table as wf_old for each statement
       execute function ${s}.wf_streams_referenced()`,
    `drop trigger if exists wf_event_types_referenced_delete on ${s}.event_types`,
    `create trigger wf_event_types_referenced_delete after delete on ${s}.event_types
       referencing old table as wf_old for each statement
       execute function ${s}.wf_event_types_referenced()`,
    `drop trigger if exists wf_event_types_referenced_update on ${s}.event_types`,
    `create trigger wf_event_types_referenced_update after update on ${s}.event_types
       referencing old table as wf_old for each statement
       execute function ${s}.wf_event_types_referenced()`,
    // Last: its presence marks a finished conversion.
    `drop trigger if exists ${MARKER_TRIGGER} on ${s}.events`,
    `create trigger ${MARKER_TRIGGER} after insert on ${s}.events
       referencing new table as wf_new for each statement
       execute function ${s}.wf_events_references()`,
    `comment on function ${s}.wf_events_references() is '${BODY_VERSION}'`,
  ];
}

/**
 * Replaces the row-by-row foreign keys of `events` with the statement-level checks
 * described above, once per schema: in one transaction, under the schema's append lock
 * (so concurrent openers convert it once and no append runs half-checked). Does nothing
 * when the schema is converted already with the current bodies ({@link BODY_VERSION});
 * one converted by an earlier version gets them.
 */
export async function useStatementReferences(
  db: Kysely<unknown>,
  schema: string,
  lock: readonly [number, number],
): Promise<boolean> {
  const converted = async (executor: Kysely<unknown>): Promise<boolean> => {
    const found = await sql<{ found: number }>`
      select 1 as found from pg_trigger t
      join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${schema} and c.relname = 'events' and t.tgname = ${MARKER_TRIGGER}
        and exists (select 1 from pg_proc p where p.pronamespace = n.oid
          and p.proname = 'wf_events_references'
          and obj_description(p.oid, 'pg_proc') = ${BODY_VERSION})`.execute(executor);
    return found.rows.length > 0;
  };
  if (await converted(db)) return false;
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${lock[0]}::int4, ${lock[1]}::int4)`.execute(trx);
    if (await converted(trx)) return false;
    for (const text of statements(schema)) await sql.raw(text).execute(trx);
    return true;
  });
}
