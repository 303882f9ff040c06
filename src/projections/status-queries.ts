import { DEFAULT_POOL } from '../../events/common';
import type { Row, Sql } from '../store/db';
import { EVENT_COLUMNS, type EventRow } from '../store/event-store';

/**
 * The reads of the projection tables `gpu-scaler status` makes, one function each, so no SQL
 * lives in src/cli. Each uses an index: workers_status_idx, the global_position indexes of
 * migrations/0009_event_time.sql, anomalies_detected_at_idx.
 */

/** Rows of these pools (`$n` a text[]; null: every pool's). */
/**
 * `pool` in `--pool`'s pools (the parameter), or every pool (the parameter null). Two statements,
 * not one `(p is null or pool = any(p))`: a prepared statement's generic plan of that one cannot
 * use the indexes on pool.
 */
const POOLS_SQL = (param: string, pools?: readonly string[]) =>
  pools?.length ? `pool = any(${param}::text[])` : `${param}::text[] is null`;
/** `--pool` as a query parameter: null for every pool. */
const poolsParam = (pools?: readonly string[]) => (pools?.length ? [...pools] : null);

/** When a worker entered its current status. */
const STATUS_SINCE_SQL = `case status when 'spawning' then requested_at when 'active' then coalesce(active_at, spawned_at, requested_at)
  when 'terminating' then termination_requested_at else terminated_at end`;

/**
 * How many workers are in each of these statuses (an index-only scan of workers_status_idx; with
 * `pools`, of workers_pool_status_idx), of every pool or of `pools`.
 */
export async function workerCountsInStatus(
  sql: Sql,
  statuses: readonly string[],
  pools?: readonly string[],
): Promise<{ status: string; n: number }[]> {
  const rows = await sql.query<{ status: string; n: number }>(
    `select status, count(*)::bigint as n from workers where status = any($1::text[]) and ${POOLS_SQL('$2', pools)} group by status`,
    [statuses, poolsParam(pools)],
  );
  return rows.map((r) => ({ status: r.status, n: Number(r.n) }));
}

/** A worker as status lists it. */
export interface StatusWorkerRow {
  worker_id: string;
  pod_id: string | null;
  status: string;
  provider: string | null;
  requested_at: unknown;
  spawned_at: unknown;
  since: unknown;
  gpu_count: number | null;
  hourly_cost_usd: number | null;
  gpu_type: string | null;
  data_center: string | null;
  node: string | null;
}

/** The workers in these statuses (of every pool, or of `pools`), oldest request first. */
export function workersInStatus(
  sql: Sql,
  statuses: readonly string[],
  pools?: readonly string[],
): Promise<StatusWorkerRow[]> {
  return sql.query<StatusWorkerRow>(
    `select worker_id, pod_id, status, provider, requested_at, spawned_at, gpu_count, hourly_cost_usd,
            gpu_type, data_center, node,
            ${STATUS_SINCE_SQL} as since from workers
      where status = any($1::text[]) and ${POOLS_SQL('$2', pools)}
      order by requested_at nulls last, worker_id`,
    [statuses, poolsParam(pools)],
  );
}

/** The last scaling decision (of every pool, or of `pools`), as its row (null: none yet). */
export async function lastDecisionRow(sql: Sql, pools?: readonly string[]): Promise<Row | null> {
  const [row] = await sql.query(
    `select * from scaling_decisions where ${POOLS_SQL('$1', pools)} order by global_position desc limit 1`,
    [poolsParam(pools)],
  );
  return row ?? null;
}

/** The last health summary (of every pool, or of `pools`), as its row (null: none yet). */
export async function lastHealthSummaryRow(sql: Sql, pools?: readonly string[]): Promise<Row | null> {
  const [row] = await sql.query(
    `select * from health_summaries where ${POOLS_SQL('$1', pools)} order by global_position desc limit 1`,
    [poolsParam(pools)],
  );
  return row ?? null;
}

/** The anomalies detected in (since, until] (of every pool, or of `pools`), in time order. */
export function anomaliesBetween(sql: Sql, since: Date, until: Date, pools?: readonly string[]): Promise<Row[]> {
  return sql.query(
    `select cycle, detected_at, kind, message, figures, causes from anomalies
      where detected_at > $1::timestamptz and detected_at <= $2::timestamptz and ${POOLS_SQL('$3', pools)}
      order by detected_at, global_position`,
    [since.toISOString(), until.toISOString(), poolsParam(pools)],
  );
}

/**
 * The pools the store has rows of: every pool with a decision, a worker or an anomaly, in name order.
 * Loose index scans (one probe a pool) on workers_pool_status_idx and on scaling_decisions' pool
 * (cheap with an index leading with pool); the anomalies are few.
 */
export async function poolsInStore(sql: Sql): Promise<string[]> {
  const loose = (table: string) => `(with recursive p(pool) as (
      (select pool from ${table} order by pool limit 1)
      union all
      select (select t.pool from ${table} t where t.pool > p.pool order by t.pool limit 1) from p where p.pool is not null
    ) select pool from p where pool is not null)`;
  const rows = await sql.query<{ pool: string }>(
    `select pool from ${loose('workers')} w
     union select pool from ${loose('scaling_decisions')} d
     union select distinct pool from anomalies
     order by pool`,
  );
  return rows.map((r) => r.pool);
}

/** The event at `position` as its row (null: no such event), to read what its projection row leaves out. */
export async function eventRowAt(sql: Sql, position: number): Promise<EventRow | null> {
  const [row] = await sql.query<EventRow>(`select ${EVENT_COLUMNS} from events where global_position = $1`, [position]);
  return row ?? null;
}

/**
 * The last HealthChecked (of every pool, or of `pools`; an event recorded before pools is pool
 * default's), as its row (null: none yet). Read backwards on events_type_idx.
 */
export async function lastHealthCheckRow(sql: Sql, pools?: readonly string[]): Promise<EventRow | null> {
  const [row] = await sql.query<EventRow>(
    `select ${EVENT_COLUMNS} from events
      where event_type = 'HealthChecked' and ($1::text[] is null or coalesce(data->>'pool', $2) = any($1::text[]))
      order by global_position desc limit 1`,
    [poolsParam(pools), DEFAULT_POOL],
  );
  return row ?? null;
}
