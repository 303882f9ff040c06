import type { DataOf, NewDataOf } from '../../events/index';
import type { TerminationReason } from '../../events/worker';

type Decision = DataOf<'ScalingDecided'>;
export type IntendedAction = NewDataOf<'ActionIntended'>;

/**
 * What an active reactor would do for a decision, as intended actions, pure: its terminations
 * (timed out, expired, cancelled, idle) and its spawns, in the order the reactor acts. `workerIdFor`
 * names a would-be spawn as the reactor would name the worker.
 */
export function intendedActions(
  decisionEventId: string,
  d: Decision,
  at: string,
  workerIdFor: (ordinal: number) => string,
): IntendedAction[] {
  const out: IntendedAction[] = [];
  const base = { at, cycle: d.cycle, pool: d.pool, decisionEventId };
  const end = (picks: Decision['terminate'], reason: TerminationReason) => {
    for (const t of picks)
      out.push({
        ...base,
        action: 'terminate',
        workerId: t.workerId,
        podId: t.podId,
        gpus: d.gpusPerWorker,
        reason,
        detail: t.reason,
      });
  };
  end(d.timedOut, 'spawning_timeout');
  end(d.expired, 'lifetime');
  end(d.cancel, 'cancelled');
  if (d.decision === 'SCALE_DOWN') end(d.terminate, 'idle');
  if (d.decision === 'SCALE_UP') {
    for (let i = 1; i <= d.delta; i++)
      out.push({
        ...base,
        action: 'spawn',
        workerId: workerIdFor(i),
        podId: null,
        gpus: d.gpusPerWorker,
        hourlyCostUsd: d.quoteUsdPerHour,
        reason: 'scale_up',
        detail: `worker ${i} of ${d.delta}: desired ${d.desired}, current ${d.current.total}`,
      });
  }
  return out;
}
