import { DEFAULT_POOL, type PoolName, Streams } from '../../events/index';
import { type WorkerRow, type WorkerStatus, workersProjection } from '../../projections/workers';
import type { ControlReads } from '../store/reads';
import type { FleetWorker } from './policy';

const LIVE: WorkerStatus[] = ['spawning', 'active', 'terminating'];

/**
 * Live workers (not terminated or failed): the workers projection, plus every worker event already
 * committed beyond the projection's checkpoint, folded in with the projection's own pure fold.
 *
 * Catch-up readers hold back while any older transaction in the cluster is open, so the projection
 * can lag the reactor's latest spawn requests; a fleet read from the table alone would then miss
 * workers that exist, and the next decision would spawn them again. Reading past the checkpoint
 * without that rule sees every committed event, so the controller always counts what it asked for.
 */
/**
 * The workers projection's rows in `statuses`, with every worker event already committed past its
 * checkpoint folded in by the projection's own pure fold (see readFleet): the one way the loop and
 * the reactor read workers (the parked pool reads parked ones too).
 */
export async function readWorkerRows(
  reads: ControlReads,
  statuses: readonly WorkerStatus[],
  /** Only this pool's workers; undefined: every pool's (the global budget, the orphan sweep). */
  pool?: PoolName,
): Promise<WorkerRow[]> {
  const cp = await reads.checkpoint(`projection:${workersProjection.name}`);
  const pending = await reads.committedAfter(cp, Streams.worker(''));
  const touched = [...new Set(pending.map((e) => workersProjection.keyOf(e)).filter((k): k is string => k !== null))];
  const rows = await reads.workersByStatusOrId([...statuses], touched, pool);
  const byId = new Map(rows.map((r) => [r.worker_id, r]));
  for (const e of pending) {
    const k = workersProjection.keyOf(e);
    if (k === null) continue;
    const next = workersProjection.evolve(byId.get(k), e);
    if (next) byId.set(k, next);
  }
  return [...byId.values()].filter(
    (r) => statuses.includes(r.status) && (pool === undefined || (r.pool ?? DEFAULT_POOL) === pool),
  );
}

/** The live fleet of one pool (undefined: of every pool), oldest request first. */
export async function readFleet(
  reads: ControlReads,
  pool?: PoolName,
): Promise<(FleetWorker & { provider: string | null; unparks: number; pool: PoolName })[]> {
  return (await readWorkerRows(reads, LIVE, pool))
    .sort(
      (a, b) => String(a.requested_at).localeCompare(String(b.requested_at)) || a.worker_id.localeCompare(b.worker_id),
    )
    .map((r) => ({
      workerId: r.worker_id,
      podId: r.pod_id,
      status: r.status as FleetWorker['status'],
      requestedAt: new Date(r.requested_at ?? 0).toISOString(),
      activeAt: r.active_at ? new Date(r.active_at).toISOString() : null,
      gpus: r.gpu_count ?? null,
      hourlyCostUsd: r.hourly_cost_usd ?? null,
      provider: r.provider,
      /** Times started again from parked (events/parking.ts): each start is a life of its own. */
      unparks: r.unparks ?? 0,
      pool: r.pool ?? DEFAULT_POOL,
    }));
}

/** The fleet's burn rate in USD per hour, or null when a worker's price is unknown. */
export function fleetBurnUsd(fleet: readonly Pick<FleetWorker, 'hourlyCostUsd'>[]): number | null {
  let sum = 0;
  for (const w of fleet) {
    if (w.hourlyCostUsd === null) return null;
    sum += w.hourlyCostUsd;
  }
  return sum;
}

/** Live worker counts by status (for health summaries). */
export async function countWorkersByStatus(reads: ControlReads, pool?: PoolName): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const w of await readFleet(reads, pool)) counts[w.status] = (counts[w.status] ?? 0) + 1;
  return counts;
}
