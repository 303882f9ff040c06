import type { Clock } from '../../clock';
import { cancelUnwanted } from '../cancel';
import type { FleetWorker, PolicyResult } from '../policy';
import type { SourceReading } from './observe';

/**
 * Cancel, a cycle's step after the guard: spawns no longer wanted (see cancelUnwanted) are
 * cancelled only when the decision is not held and the reactor has acted on the last decision.
 */
export function cancelCycle(
  clock: Clock,
  guarded: { decision: PolicyResult; held: boolean },
  reactorCaughtUp: boolean,
  fleet: readonly FleetWorker[],
  source: Pick<SourceReading, 'tasks'>,
  previousDesired: number | null,
): PolicyResult {
  if (guarded.held || !reactorCaughtUp) return guarded.decision;
  return cancelUnwanted({
    now: clock.now(),
    decision: guarded.decision,
    fleet,
    activity: source.tasks.workers,
    previousDesired,
  });
}
