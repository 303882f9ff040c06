import type { TerminationPick } from '../../events/scaling';
import type { WorkerActivity } from '../../events/task-count';
import { secondsBetween } from '../clock';
import { type FleetWorker, fewerKept, type PolicyResult } from './policy';

/** How many cycles in a row demand must stay below the fleet before a spawn is cancelled (the operators' hysteresis). */
export const CANCEL_AFTER_CYCLES = 2;

export interface CancelInput {
  now: Date;
  /** The cycle's decision (policy and caps), not held back. */
  decision: PolicyResult;
  /** The live fleet the decision was made from. */
  fleet: readonly FleetWorker[];
  /** Per-worker activity from the task source, or null when it cannot tell. */
  activity: readonly WorkerActivity[] | null;
  /** The desired count of the decision before this one; null when there is none (the first cycle). */
  previousDesired: number | null;
}

/**
 * A step after the policy, pure: the decision with spawning workers that are no longer wanted
 * listed in `cancel`. When demand fell while pods were still starting (a burst that cleared while
 * they provisioned), the workers beyond what is wanted are cancelled once the lower demand has held
 * for two cycles: the excess is the fleet (less the idle workers already being terminated) over the
 * larger desired count of this cycle and the last, so a dip of one cycle cancels nothing. Newest
 * first (the furthest from taking tasks); never a worker that has started taking tasks, one being
 * terminated, or one already given up on (timed out or expired).
 */
export function cancelUnwanted(input: CancelInput): PolicyResult {
  const d = input.decision;
  if (input.previousDesired === null) return d;
  const held = Math.max(d.desired, input.previousDesired);
  const remaining = d.current.total - d.terminate.length;
  const excess = remaining - held;
  if (excess <= 0) return d;
  const gone = new Set([...d.terminate, ...d.timedOut, ...d.expired].map((t) => t.workerId));
  const byWorker = new Map((input.activity ?? []).map((a) => [a.workerId, a]));
  const tookTasks = (w: FleetWorker) => {
    const a = byWorker.get(w.workerId);
    return a !== undefined && (a.activeTasks > 0 || a.lastTaskAt !== null);
  };
  const candidates = input.fleet
    .filter((w) => w.status === 'spawning' && !gone.has(w.workerId) && !tookTasks(w))
    .sort((a, b) => b.requestedAt.localeCompare(a.requestedAt) || b.workerId.localeCompare(a.workerId));
  const picked = candidates.slice(0, excess);
  if (picked.length === 0) return d;
  const cancel: TerminationPick[] = picked.map((w) => ({
    workerId: w.workerId,
    podId: w.podId,
    idleSec: null,
    reason: `no longer wanted: desired ${d.desired} (last cycle ${input.previousDesired}) < ${remaining} workers for ${CANCEL_AFTER_CYCLES} cycles; spawning for ${secondsBetween(w.requestedAt, input.now)}s`,
  }));
  const delta = d.terminate.length + cancel.length;
  return {
    ...d,
    decision: 'SCALE_DOWN',
    delta,
    cancel,
    reasons: [
      ...fewerKept(d.reasons, cancel.length),
      `desired ${d.desired} (last cycle ${input.previousDesired}) < ${remaining} workers for ${CANCEL_AFTER_CYCLES} cycles: cancel ${cancel.length} spawning worker(s) no longer wanted, newest first`,
    ],
  };
}
