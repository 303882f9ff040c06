import type { Sql } from './db';
import { type Checkpoint, START } from './event-store';

/** Reads a subscriber's checkpoint (the start when it has none). */
export async function loadCheckpoint(sql: Sql, name: string): Promise<Checkpoint> {
  const rows = await sql.query<{ tx_id: string; global_position: number }>(
    'select tx_id::text as tx_id, global_position from projection_checkpoints where name = $1',
    [name],
  );
  return rows[0] ? { txId: rows[0].tx_id, position: rows[0].global_position } : START;
}

/**
 * Moves a checkpoint from `from` to `to`, inside the caller's transaction. Returns false when
 * the stored checkpoint is no longer `from`: another process got there first, and the caller
 * must roll back.
 */
export async function advanceCheckpoint(sql: Sql, name: string, from: Checkpoint, to: Checkpoint): Promise<boolean> {
  const rows = await sql.query<{ name: string }>(
    `insert into projection_checkpoints as c (name, tx_id, global_position, updated_at)
     values ($1, $4::xid8, $5, now())
     on conflict (name) do update set tx_id = excluded.tx_id, global_position = excluded.global_position,
       updated_at = excluded.updated_at
     where c.tx_id = $2::xid8 and c.global_position = $3
     returning name`,
    [name, from.txId, from.position, to.txId, to.position],
  );
  if (rows.length === 1) return true;
  // No row existed and `from` is the start: the insert above has run; otherwise a conflict.
  return false;
}

/** True when a checkpoint has reached (processed) the event at (txId, position). */
export function reached(cp: Checkpoint, txId: string, position: number): boolean {
  const a = BigInt(cp.txId);
  const b = BigInt(txId);
  return a > b || (a === b && cp.position >= position);
}
