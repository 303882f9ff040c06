import type { StartFact } from '../reactor/parking';
import type { Sql } from '../store/db';
import { EVENT_TIME_SQL } from '../store/event-time';
import { workerRowsByStatusOrId } from './worker-queries';

/** The reads parking's surfaces make (status, metrics), so no SQL lives in src/cli or src/observe. */

/** A parked pod as status and the metrics show it. */
export interface ParkedPod {
  workerId: string;
  podId: string | null;
  parkedAt: string | null;
  /** USD per hour its disk bills; null: unknown. */
  hourlyUsd: number | null;
}

/** The parked workers (the workers table's `parked` rows, through workers_status_idx). */
export async function parkedPods(sql: Sql): Promise<ParkedPod[]> {
  const rows = await workerRowsByStatusOrId(sql, ['parked'], []);
  return rows
    .filter((r) => r.status === 'parked')
    .map((r) => ({
      workerId: r.worker_id,
      podId: r.pod_id,
      parkedAt: r.parked_at ? new Date(r.parked_at).toISOString() : null,
      hourlyUsd: r.parked_hourly_usd === null || r.parked_hourly_usd === undefined ? null : Number(r.parked_hourly_usd),
    }));
}

/** The parked pool's size and disk cost: USD per hour of those whose price is known, and how many are not. */
export function parkedCost(pods: readonly ParkedPod[]): { count: number; usdPerHour: number; unknownPrices: number } {
  return {
    count: pods.length,
    usdPerHour: pods.reduce((n, p) => n + (p.hourlyUsd ?? 0), 0),
    unknownPrices: pods.filter((p) => p.hourlyUsd === null).length,
  };
}

/**
 * Starts (cold requests, starts from parked, refused starts) and activations in [since, until), by
 * event time (events_event_time_idx: comparing `data->>'at'` as text read the whole table, 15 s at 3
 * million events).
 */
export async function startFactsBetween(sql: Sql, since: Date, until: Date): Promise<StartFact[]> {
  const rows = await sql.query<{ type: StartFact['type']; worker_id: string; at: string }>(
    `select event_type as type, data->>'workerId' as worker_id, data->>'at' as at from events
      where ${EVENT_TIME_SQL} >= $1::timestamptz and ${EVENT_TIME_SQL} < $2::timestamptz and data->>'at' is not null
        and event_type in ('WorkerSpawnRequested', 'WorkerUnparked', 'WorkerUnparkRefused', 'WorkerActivated')
      order by global_position`,
    [since.toISOString(), until.toISOString()],
  );
  return rows.map((r) => ({ type: r.type, workerId: r.worker_id, at: new Date(r.at).toISOString() }));
}
