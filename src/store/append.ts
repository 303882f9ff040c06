import { pgErrorCode, type Sql } from './db';
import type { ExpectedVersion } from './errors';

/** One event as append_events takes it (an element of its JSON array). */
export interface EventPayload {
  event_id: string;
  event_type: string;
  schema_version: number;
  data: unknown;
  metadata: Record<string, unknown>;
}

/** One row per appended event, in the batch's order. */
export interface AppendRow {
  global_position: number;
  stream_version: number;
  tx_id: string;
  duplicate: boolean;
}

/**
 * The stream's lock and current version; expected-version test on `cur.v` with $2 mode, $3 n. The
 * lock is the stream's row in stream_locks (migrations/0014_stream_locks.sql), which only the writer
 * may lock: inserted the first time, locked without a new row version after that. The insert below
 * names `cur.locked`, so the lock is taken before it (an unreferenced data-modifying CTE would run
 * after the main statement).
 */
const CURRENT = `
with locked as (
  insert into stream_locks as l (stream_id) values ($1)
  on conflict (stream_id) do update set stream_id = excluded.stream_id where false
  returning 1
), cur as (
  select (select count(*) from locked) as locked,
         (select coalesce(max(e.stream_version), 0) from events e where e.stream_id = $1) as v
)`;
const EXPECTED = `cur.locked >= 0 and case $2::text
         when 'any' then true
         when 'no_stream' then cur.v = 0
         when 'stream_exists' then cur.v > 0
         else cur.v = $3::bigint
       end`;
const COLUMNS = 'stream_id, stream_version, event_id, event_type, schema_version, data, metadata';
const RETURNING = 'returning global_position, stream_version, tx_id::text as tx_id, false as duplicate';

/** One event, as plain parameters: $4 id, $5 type, $6 schema version, $7 data, $8 metadata (JSON). */
const FAST_APPEND_ONE = `${CURRENT}
insert into events (${COLUMNS})
select $1, cur.v + 1, $4::uuid, $5::text, $6::integer, $7::text::jsonb, $8::text::jsonb
  from cur
 where ${EXPECTED}
${RETURNING}`;

/** A batch: $4 is the JSON array append_events takes. */
const FAST_APPEND_MANY = `${CURRENT}
insert into events (${COLUMNS})
select $1, cur.v + x.ord, x.event_id, x.event_type, x.schema_version,
       coalesce(x.data, 'null'::jsonb), coalesce(x.metadata, '{}'::jsonb)
  from cur,
       rows from (jsonb_to_recordset($4::text::jsonb)
                  as (event_id uuid, event_type text, schema_version integer, data jsonb, metadata jsonb))
         with ordinality as x(event_id, event_type, schema_version, data, metadata, ord)
 where ${EXPECTED}
 order by x.ord
${RETURNING}`;

const LOCKED_APPEND = 'select * from append_events($1, $2, $3::text::jsonb)';

/**
 * The fast path of an append: one plain statement, no PL/pgSQL, no ON CONFLICT on events. It takes
 * the stream's row lock (the same one append_events takes, so append_events still never loses
 * a race for 'any'), computes the next versions from the stream's current version as of the
 * statement's snapshot, and inserts the batch only when the expected version matches.
 *
 * It never decides a hard case; it gives up and append_events decides:
 * - no row inserted: the expected version did not match (append_events raises GS001 with the
 *   actual version);
 * - a unique violation: an event id is already stored (a retry, or a reused id: append_events
 *   tells which), or a concurrent append committed the same stream version after this
 *   statement's snapshot (append_events reads after taking the lock and gets it right).
 * A failed statement wrote nothing, so the fallback starts clean. Inside a caller's transaction
 * a failed statement would abort the transaction, so there append_events is used directly.
 *
 * Why: with fsync on, a single append is one commit either way, but append_events cost twice a
 * raw INSERT's server time (pgbench, synchronous_commit off: about 135 vs 87 us a call; this
 * statement about 105 us). For batches, ON CONFLICT's speculative insertion, the per-element jsonb
 * lookups and PL/pgSQL's result tuplestore go away (`npm run bench`: batches of 100 went from about
 * 0.75x to 1.0x of raw INSERTs).
 *
 * Returns one row per event, in order. Errors are append_events' own (GS001, GS002, ...), for the
 * caller to map.
 */
export async function appendRows(
  sql: Sql,
  inTransaction: boolean,
  streamId: string,
  expected: ExpectedVersion,
  events: readonly EventPayload[],
): Promise<AppendRow[]> {
  const count = events.length;
  if (!inTransaction) {
    try {
      const mode = typeof expected === 'number' ? 'version' : expected;
      const version = typeof expected === 'number' ? expected : null;
      const e = events[0];
      const rows =
        count === 1
          ? await sql.query<AppendRow>(FAST_APPEND_ONE, [
              streamId,
              mode,
              version,
              e.event_id,
              e.event_type,
              e.schema_version,
              JSON.stringify(e.data ?? null),
              JSON.stringify(e.metadata),
            ])
          : await sql.query<AppendRow>(FAST_APPEND_MANY, [streamId, mode, version, JSON.stringify(events)]);
      if (rows.length === count) return rows;
      if (rows.length !== 0) {
        // Cannot happen: the statement inserts the whole batch or nothing.
        throw new Error(`append to "${streamId}" wrote ${rows.length} of ${count} events`);
      }
    } catch (err) {
      if (pgErrorCode(err) !== '23505') throw err;
    }
  }
  return sql.query<AppendRow>(LOCKED_APPEND, [streamId, String(expected), JSON.stringify(events)]);
}
