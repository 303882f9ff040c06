import type { WorkerRow, WorkerStatus } from '../../projections/workers';
import type { Sql } from '../store/db';

/** Queries on the workers projection's table, so that no SQL on it lives in the control loop. */

/**
 * The rows of workers in one of `statuses`, and of the workers `ids` whatever their status; with
 * `pool`, only that pool's (default: every pool's).
 */
export async function workerRowsByStatusOrId(
  sql: Sql,
  statuses: readonly WorkerStatus[],
  ids: readonly string[],
  pool?: string,
): Promise<WorkerRow[]> {
  const rows = await sql.query<{ r: WorkerRow }>(
    `select to_jsonb(w) as r from workers w
     where (w.status = any($1::text[]) or w.worker_id = any($2::text[])) and ($3::text is null or w.pool = $3::text)`,
    [statuses, ids, pool ?? null],
  );
  return rows.map(({ r }) => r);
}

/** The status of each of the workers `ids` the table has a row for (with `pool`: of that pool). */
export async function workerStatuses(
  sql: Sql,
  ids: readonly string[],
  pool?: string,
): Promise<Map<string, WorkerStatus>> {
  const rows = await sql.query<{ worker_id: string; status: WorkerStatus }>(
    'select worker_id, status from workers where worker_id = any($1::text[]) and ($2::text is null or pool = $2::text)',
    [ids, pool ?? null],
  );
  return new Map(rows.map((r) => [r.worker_id, r.status]));
}
