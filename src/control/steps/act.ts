import type { FleetWorker, PolicyResult } from '../policy';
import type { CycleMemory } from './memory';
import { type OrphanSweepContext, sweepOrphans } from './orphan-sweep';
import { healthCycle, type PeriodicHealthContext } from './periodic-health';

export interface ActContext {
  sweep: OrphanSweepContext;
  health: PeriodicHealthContext;
  /** RECONCILE_EVERY_CYCLES: cycles between two sweeps for orphan pods. */
  reconcileEvery: number;
}

/**
 * Act, a cycle's last step, on what is the controller's own: orphan pods (not in shadow: the pods
 * belong to whatever else manages the fleet), health checks and summaries. The reactor acts on
 * the decision.
 */
export async function act(
  ctx: ActContext,
  memory: Pick<CycleMemory, 'lastTaskCount' | 'anomaliesSinceSummary'>,
  cycle: number,
  shadow: boolean,
  fleet: readonly FleetWorker[],
  decision: PolicyResult,
): Promise<void> {
  if (cycle % ctx.reconcileEvery === 0 && !shadow) await sweepOrphans(ctx.sweep, cycle);
  await healthCycle(ctx.health, memory, cycle, fleet.length + (decision.decision === 'SCALE_UP' ? decision.delta : 0));
}
