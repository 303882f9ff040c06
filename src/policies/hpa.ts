import { z } from 'zod';
import { int, num } from '../settings';
import { definePolicy, floorOf } from './policy';

/** POLICY=hpa settings (validated only when it is in use). */
export const HPA_SETTINGS = {
  /** Tasks (queued + active) per worker the fleet aims at: the HPA's target average value. */
  HPA_TARGET_TASKS_PER_WORKER: num(0.0001).default(1),
  /** No change while tasks per worker are within this fraction of the target. */
  HPA_TOLERANCE: num(0, 1).default(0.1),
  /** Scale down to the largest recommendation of this window (the HPA's default is 300 s). */
  HPA_SCALE_DOWN_STABILIZATION_SEC: num(0).default(300),
  /** Scale up to the smallest recommendation of this window (the HPA's default is 0: at once). */
  HPA_SCALE_UP_STABILIZATION_SEC: num(0).default(0),
  /** A cycle adds at most this percentage of the current workers ... */
  HPA_SCALE_UP_MAX_PERCENT: num(0).default(100),
  /** ... or this many workers, whichever is more (the HPA's default scale-up policies). */
  HPA_SCALE_UP_MAX_WORKERS: int(0).default(4),
  /** Workers kept even with no tasks (the HPA's minReplicas; 0 lets the fleet scale to zero). */
  HPA_MIN_WORKERS: int(0).default(0),
};

/**
 * The Kubernetes Horizontal Pod Autoscaler's algorithm on tasks per worker: recommend
 * `ceil(tasks / HPA_TARGET_TASKS_PER_WORKER)` (the current count within HPA_TOLERANCE of the
 * target), stabilize it (scale down to the largest recommendation of the last
 * HPA_SCALE_DOWN_STABILIZATION_SEC, up to the smallest of HPA_SCALE_UP_STABILIZATION_SEC), then
 * limit a scale-up to max(HPA_SCALE_UP_MAX_PERCENT of the current workers, HPA_SCALE_UP_MAX_WORKERS)
 * a cycle. Past recommendations are computed from the recorded task counts (without the tolerance,
 * which needs the worker count of the time).
 */
export const hpa = definePolicy({
  name: 'hpa',
  description: 'ceil(tasks / HPA_TARGET_TASKS_PER_WORKER), stabilized over windows, scale-up rate-limited',
  settings: z.object(HPA_SETTINGS),
  lookbackSec: (s) => Math.max(s.HPA_SCALE_DOWN_STABILIZATION_SEC, s.HPA_SCALE_UP_STABILIZATION_SEC),
  decide(view, s) {
    const t = s.HPA_TARGET_TASKS_PER_WORKER;
    const current = view.workers.total;
    const tasks = view.queued + view.active;
    const ratio = current > 0 ? tasks / (current * t) : null;
    const within = ratio !== null && Math.abs(ratio - 1) <= s.HPA_TOLERANCE;
    const recommended = within ? current : Math.ceil(tasks / t);
    const now = view.now.getTime();
    const inWindow = (sec: number) =>
      view.recent.filter((o) => Date.parse(o.at) >= now - sec * 1000).map((o) => Math.ceil((o.queued + o.active) / t));
    const upRec = Math.min(recommended, ...inWindow(s.HPA_SCALE_UP_STABILIZATION_SEC));
    const downRec = Math.max(recommended, ...inWindow(s.HPA_SCALE_DOWN_STABILIZATION_SEC));
    const stabilized = upRec > current ? upRec : Math.min(downRec, current);
    const upLimit =
      current + Math.max(Math.ceil((current * s.HPA_SCALE_UP_MAX_PERCENT) / 100), s.HPA_SCALE_UP_MAX_WORKERS);
    const desired = Math.max(s.HPA_MIN_WORKERS, Math.min(stabilized, upLimit));
    const reasons: string[] = [];
    if (stabilized > recommended) {
      reasons.push(
        `stabilization: ${stabilized} workers were recommended within HPA_SCALE_DOWN_STABILIZATION_SEC=${s.HPA_SCALE_DOWN_STABILIZATION_SEC}s, so the count does not go below it yet`,
      );
    }
    if (stabilized > upLimit) {
      reasons.push(
        `scale-up limited to ${upLimit - current} worker(s) this cycle by HPA_SCALE_UP_MAX_PERCENT=${s.HPA_SCALE_UP_MAX_PERCENT} / HPA_SCALE_UP_MAX_WORKERS=${s.HPA_SCALE_UP_MAX_WORKERS}`,
      );
    }
    return {
      desired,
      terms: [
        { name: 'minWorkers', value: s.HPA_MIN_WORKERS, formula: `HPA_MIN_WORKERS=${s.HPA_MIN_WORKERS}` },
        {
          name: 'recommended',
          value: recommended,
          formula: within
            ? `current ${current} (${tasks} tasks within HPA_TOLERANCE=${s.HPA_TOLERANCE} of the target)`
            : `ceil(${tasks} / HPA_TARGET_TASKS_PER_WORKER=${t})`,
        },
        {
          name: 'stabilized',
          value: stabilized,
          formula: `current ${current} moved to min ${upRec} of HPA_SCALE_UP_STABILIZATION_SEC=${s.HPA_SCALE_UP_STABILIZATION_SEC} / max ${downRec} of HPA_SCALE_DOWN_STABILIZATION_SEC=${s.HPA_SCALE_DOWN_STABILIZATION_SEC}`,
        },
        {
          name: 'upLimit',
          value: upLimit,
          formula: `${current} + max(ceil(${current} x HPA_SCALE_UP_MAX_PERCENT=${s.HPA_SCALE_UP_MAX_PERCENT}%), HPA_SCALE_UP_MAX_WORKERS=${s.HPA_SCALE_UP_MAX_WORKERS})`,
        },
      ],
      combine: 'max(minWorkers, min(stabilized, upLimit))',
      floors: floorOf(
        { name: 'HPA_MIN_WORKERS', value: s.HPA_MIN_WORKERS, unit: 'workers', workers: s.HPA_MIN_WORKERS },
        Math.min(stabilized, upLimit),
      ),
      reasons,
    };
  },
});
