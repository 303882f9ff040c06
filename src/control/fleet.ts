import type { Sql } from '../store/db';
import type { FleetWorker } from './policy';

/** Live workers (not terminated or failed) from the workers projection. */
export async function readFleet(db: Sql): Promise<(FleetWorker & { provider: string | null })[]> {
  const rows = await db.query<{
    worker_id: string;
    pod_id: string | null;
    status: FleetWorker['status'];
    requested_at: Date | null;
    active_at: Date | null;
    provider: string | null;
  }>(
    `select worker_id, pod_id, status, requested_at, active_at, provider from workers
      where status in ('spawning', 'active', 'terminating') order by requested_at, worker_id`,
  );
  return rows.map((r) => ({
    workerId: r.worker_id,
    podId: r.pod_id,
    status: r.status,
    requestedAt: (r.requested_at ?? new Date(0)).toISOString(),
    activeAt: r.active_at ? r.active_at.toISOString() : null,
    provider: r.provider,
  }));
}

/** Worker counts by status (all statuses, for health summaries). */
export async function countWorkersByStatus(db: Sql): Promise<Record<string, number>> {
  const rows = await db.query<{ status: string; n: number }>(
    `select status, count(*)::bigint as n from workers where status in ('spawning', 'active', 'terminating') group by status order by status`,
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
