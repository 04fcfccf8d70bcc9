/**
 * The server-side function of the one-round-trip append.
 *
 * A group of appends planned against what this storage remembers of the store (the head,
 * the streams' ids and versions) is sent as one call of this function, outside any
 * explicit transaction: the call takes the append lock, checks that the head and the
 * versions are still the ones the plan assumed, and writes every row, and the implicit
 * transaction commits when the call ends. Each statement of a PL/pgSQL function takes
 * its own snapshot, so the check reads every append committed before the lock was
 * granted. When the check fails (another writer moved the head, a stream was purged) the
 * function writes nothing and returns false, and the group is planned again from the
 * state read under the lock (the four-round-trip path).
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/** Name of the function; a new version of its body gets a new name. */
export const APPEND_FUNCTION = 'wf_append_group_v1';

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The write of a group, the same as the four-round-trip path's write statement. */
function createStatement(schema: string, purgedHeadKey: string): string {
  const s = quoteIdent(schema);
  return `create or replace function ${s}.${APPEND_FUNCTION}(
    lock_ns int4, lock_key int4, expected_head int8, check_ids int4[], check_versions int8[],
    type_ids int4[], type_names text[],
    stream_ids int4[], stream_names text[], stream_kinds text[], stream_versions int8[],
    stream_created int8[], version_ids int4[], version_values int8[],
    e_position int8[], e_stream int4[], e_version int8[], e_type int4[], e_schema int4[],
    e_timestamp int8[], e_frame int8[], e_id text[], e_payload bytea[], e_checksum int8[])
  returns boolean language plpgsql set search_path = ${s} as $wf$
  begin
    perform pg_advisory_xact_lock(lock_ns, lock_key);
    if greatest((select max(position) from events), (select max(last_position) from segments),
        (select value::int8 from metadata where key = '${purgedHeadKey}'), 0) <> expected_head then
      return false;
    end if;
    if (select count(*) from streams s
        join unnest(check_ids, check_versions) as c(id, version)
        on s.id = c.id and s.version = c.version) <> coalesce(cardinality(check_ids), 0) then
      return false;
    end if;
    with new_types as (
      insert into event_types (id, name) select * from unnest(type_ids, type_names)
    ), new_streams as (
      insert into streams (id, name, kind, version, created_us)
      select * from unnest(stream_ids, stream_names, stream_kinds, stream_versions, stream_created)
    ), versions as (
      update streams set version = v.version
      from unnest(version_ids, version_values) as v(id, version) where streams.id = v.id
    )
    insert into events (position, stream_id, version, type_id, schema_version, timestamp_us,
      frame_id, event_id, payload, checksum)
    select * from unnest(e_position, e_stream, e_version, e_type, e_schema, e_timestamp,
      e_frame, e_id, e_payload, e_checksum);
    return true;
  end $wf$`;
}

/**
 * Creates the function in `schema` when missing, once: in one transaction under the
 * schema's append lock, so concurrent openers create it once.
 */
export async function useAppendFunction(
  db: Kysely<unknown>,
  schema: string,
  lock: readonly [number, number],
  purgedHeadKey: string,
): Promise<void> {
  const exists = async (executor: Kysely<unknown>): Promise<boolean> => {
    const found = await sql<{ found: number }>`
      select 1 as found from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = ${schema} and p.proname = ${APPEND_FUNCTION}`.execute(executor);
    return found.rows.length > 0;
  };
  if (await exists(db)) return;
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${lock[0]}::int4, ${lock[1]}::int4)`.execute(trx);
    if (await exists(trx)) return;
    await sql.raw(createStatement(schema, purgedHeadKey)).execute(trx);
  });
}
