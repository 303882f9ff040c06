import { z } from 'zod';
import { int, num } from '../settings';
import { definePolicy, floorOf } from './policy';

/** POLICY=keda settings (validated only when it is in use). */
export const KEDA_SETTINGS = {
  /** Tasks (queued + active) one worker should have: KEDA's queue-length target. */
  KEDA_QUEUE_TARGET: num(0.0001).default(1),
  /** Scale-down waits this long: the count goes down only to the largest need seen in this window. */
  KEDA_COOLDOWN_SEC: num(0).default(300),
  /** Workers kept even with an empty queue (KEDA's minReplicaCount). */
  KEDA_MIN_WORKERS: int(0).default(0),
};

/**
 * KEDA's queue scaler: one worker per KEDA_QUEUE_TARGET tasks, `ceil(tasks / target)`, with a
 * cool-down before scaling down: the largest need of the last KEDA_COOLDOWN_SEC (from the recorded
 * task counts) is kept, so a queue that empties for a moment does not drop its workers.
 */
export const keda = definePolicy({
  name: 'keda',
  description: 'ceil(tasks / KEDA_QUEUE_TARGET), scaling down only after KEDA_COOLDOWN_SEC of lower need',
  settings: z.object(KEDA_SETTINGS),
  lookbackSec: (s) => s.KEDA_COOLDOWN_SEC,
  decide(view, s) {
    const need = (queued: number, active: number) => Math.ceil((queued + active) / s.KEDA_QUEUE_TARGET);
    const tasks = view.queued + view.active;
    const byQueue = need(view.queued, view.active);
    const since = view.now.getTime() - s.KEDA_COOLDOWN_SEC * 1000;
    const window = view.recent.filter((o) => Date.parse(o.at) >= since);
    const cooldown = window.reduce((m, o) => Math.max(m, need(o.queued, o.active)), 0);
    const desired = Math.max(s.KEDA_MIN_WORKERS, byQueue, cooldown);
    const reasons: string[] = [];
    if (cooldown > Math.max(byQueue, s.KEDA_MIN_WORKERS) && cooldown > 0) {
      reasons.push(
        `cool-down: ${cooldown} workers were needed within the last KEDA_COOLDOWN_SEC=${s.KEDA_COOLDOWN_SEC}s, so the count does not go below it yet`,
      );
    }
    return {
      desired,
      terms: [
        { name: 'minWorkers', value: s.KEDA_MIN_WORKERS, formula: `KEDA_MIN_WORKERS=${s.KEDA_MIN_WORKERS}` },
        { name: 'byQueue', value: byQueue, formula: `ceil(${tasks} / KEDA_QUEUE_TARGET=${s.KEDA_QUEUE_TARGET})` },
        {
          name: 'cooldown',
          value: cooldown,
          formula: `largest need of ${window.length} count${window.length === 1 ? '' : 's'} in KEDA_COOLDOWN_SEC=${s.KEDA_COOLDOWN_SEC}`,
        },
      ],
      combine: 'max(minWorkers, byQueue, cooldown)',
      floors: floorOf(
        { name: 'KEDA_MIN_WORKERS', value: s.KEDA_MIN_WORKERS, unit: 'workers', workers: s.KEDA_MIN_WORKERS },
        Math.max(byQueue, cooldown),
      ),
      reasons,
    };
  },
});
