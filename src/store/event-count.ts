import { pgErrorCode, type Sql } from './db';
import { type Checkpoint, READ_HORIZON_SQL, START } from './event-store';

/** The subscriber whose checkpoint row also holds how many events were committed up to it. */
export const EVENT_COUNT_CHECKPOINT = 'event-count';

/**
 * How many events the store holds, without reading them all: the count stored at the
 * `event-count` checkpoint (migrations/0012_event_count.sql) plus the events after it, which an
 * index range scan of events_tx_order_idx finds. The checkpoint then moves to the last event
 * committed before every open transaction (the catch-up readers' xmin rule), so nothing is counted
 * twice or missed; one that is behind, or a concurrent move, only makes the next call count more.
 * A checkpoint past the last event (the events were restored without resetting the checkpoints)
 * is not trusted: everything is counted again.
 */
export async function countAllEvents(sql: Sql): Promise<number> {
  const [stored] = await sql.query<{ tx_id: string; global_position: number; events: number | null }>(
    'select tx_id::text as tx_id, global_position, events from projection_checkpoints where name = $1',
    [EVENT_COUNT_CHECKPOINT],
  );
  // The stored checkpoint, as the row holds it (moved only from there); a row without a count, or
  // reset to the start, counts from the start.
  const held: Checkpoint | null = stored ? { txId: stored.tx_id, position: Number(stored.global_position) } : null;
  const trusted = held !== null && held.position > 0 && stored?.events !== null && stored?.events !== undefined;
  const from = trusted ? held : START;
  let base = trusted ? Number(stored.events) : 0;
  let after = await countAfter(sql, from);
  if (after.head < from.position) {
    base = 0;
    after = await countAfter(sql, START);
  }
  const total = base + after.visible;
  if (after.last && after.settled > 0) await moveCount(sql, held, after.last, base + after.settled);
  return total;
}

interface After {
  /** Events after the checkpoint this statement sees. */
  visible: number;
  /** Those committed before every transaction open at the start: safe to put behind the checkpoint. */
  settled: number;
  /** The last settled one (null: none). */
  last: Checkpoint | null;
  /** The highest position in the store. */
  head: number;
}

/**
 * The events after `from`. xmin is read first, then one statement (one snapshot) counts what it
 * sees, the events of transactions from xmin on (committed late, or still open: never behind the
 * checkpoint) and finds the last event before xmin. Every event of a transaction before xmin has
 * committed, so the events up to that last one are exactly the visible ones less the late ones.
 * The literals let the planner estimate each range (index range scans of events_tx_order_idx);
 * from the start, the count is a plain count(*) (an index-only scan on a server).
 */
async function countAfter(sql: Sql, from: Checkpoint): Promise<After> {
  const [{ xmin }] = await sql.query<{ xmin: string }>(`select ${READ_HORIZON_SQL}::text as xmin`);
  const fromStart = from.txId === START.txId && from.position === START.position;
  const afterFrom = '((tx_id::text)::bigint, global_position) > ($2::bigint, $3::bigint)';
  const [row] = await sql.query<{
    visible: number;
    late: number;
    last_tx: string | null;
    last_position: number | null;
    head: number;
  }>(
    `select (select count(*) from events ${fromStart ? '' : `where ${afterFrom}`})::bigint as visible,
            (select count(*) from events where (tx_id::text)::bigint >= $1::bigint)::bigint as late,
            l.tx::text as last_tx, l.pos as last_position,
            coalesce((select max(global_position) from events), 0)::bigint as head
       from (select 1) as one
       left join (select (tx_id::text)::bigint as tx, global_position as pos from events
                   where (tx_id::text)::bigint < $1::bigint and ${afterFrom}
                   order by 1 desc, 2 desc limit 1) as l on true`,
    [xmin, from.txId, from.position],
  );
  const visible = Number(row.visible);
  return {
    visible,
    settled: visible - Number(row.late),
    last: row.last_tx === null ? null : { txId: row.last_tx, position: Number(row.last_position) },
    head: Number(row.head),
  };
}

/**
 * Moves the count's checkpoint from `from` (null: there is no row yet) to `to`. A row moved by
 * someone else meanwhile is left alone; a login that may not write the checkpoints (a reader)
 * leaves it where it is.
 */
async function moveCount(sql: Sql, from: Checkpoint | null, to: Checkpoint, events: number): Promise<void> {
  try {
    if (from === null) {
      await sql.query(
        `insert into projection_checkpoints (name, tx_id, global_position, events, updated_at)
         values ($1, $2::xid8, $3, $4, now()) on conflict (name) do nothing`,
        [EVENT_COUNT_CHECKPOINT, to.txId, to.position, events],
      );
    } else {
      await sql.query(
        `update projection_checkpoints set tx_id = $4::xid8, global_position = $5, events = $6, updated_at = now()
          where name = $1 and tx_id = $2::xid8 and global_position = $3`,
        [EVENT_COUNT_CHECKPOINT, from.txId, from.position, to.txId, to.position, events],
      );
    }
  } catch (err) {
    if (pgErrorCode(err) !== '42501') throw err; // insufficient_privilege
  }
}
