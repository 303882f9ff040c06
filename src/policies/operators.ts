import { z } from 'zod';
import { int, num } from '../settings';
import { definePolicy, floorOf } from './policy';

/** POLICY=operators settings (spread into the configuration; validated only when it is in use). */
export const OPERATORS_SETTINGS = {
  /** Tasks one GPU takes at a time. */
  TASKS_PER_GPU: num(0.0001).default(1),
  /** A floor of GPUs kept even with no tasks. */
  MIN_ACTIVE_GPUS: int(0).default(0),
  /** Spare workers kept on top of the busy ones. */
  MACHINES_TO_KEEP_IDLE: int(0).default(0),
};

/**
 * The operators' rule, in workers of G GPUs (the provider's gpusPerWorker):
 *   desired = max(ceil(MIN_ACTIVE_GPUS / G), ceil(total / (TASKS_PER_GPU x G)), busy + MACHINES_TO_KEEP_IDLE)
 * The caps (MAX_WORKERS, MAX_ACTIVE_GPUS, MAX_HOURLY_COST_USD) apply after it, outside the policy.
 */
export const operators = definePolicy({
  name: 'operators',
  description: 'max(MIN_ACTIVE_GPUS, ceil(tasks / TASKS_PER_GPU), busy + MACHINES_TO_KEEP_IDLE), in workers',
  settings: z.object(OPERATORS_SETTINGS),
  lookbackSec: () => 0,
  decide(view, s) {
    const g = view.gpusPerWorker;
    const total = view.queued + view.active;
    const busy = view.workers.busy;
    const minActive = Math.ceil(s.MIN_ACTIVE_GPUS / g);
    const byTasks = Math.ceil(total / (s.TASKS_PER_GPU * g));
    const busyPlusIdle = busy + s.MACHINES_TO_KEEP_IDLE;
    const desired = Math.max(minActive, byTasks, busyPlusIdle);
    const floors = floorOf(
      {
        name: 'MIN_ACTIVE_GPUS',
        value: s.MIN_ACTIVE_GPUS,
        unit: 'GPUs',
        workers: minActive,
        ...(g === 1 ? {} : { detail: `ceil(${s.MIN_ACTIVE_GPUS} GPUs / ${g} GPUs per worker) = ${minActive} workers` }),
      },
      Math.max(byTasks, busyPlusIdle),
    );
    return {
      desired,
      terms: [
        {
          name: 'minActive',
          value: minActive,
          formula:
            g === 1 ? `MIN_ACTIVE_GPUS=${s.MIN_ACTIVE_GPUS}` : `ceil(MIN_ACTIVE_GPUS=${s.MIN_ACTIVE_GPUS} / ${g} GPUs)`,
        },
        {
          name: 'byTasks',
          value: byTasks,
          formula:
            g === 1
              ? `ceil(${total} / TASKS_PER_GPU=${s.TASKS_PER_GPU})`
              : `ceil(${total} / (TASKS_PER_GPU=${s.TASKS_PER_GPU} x ${g} GPUs))`,
        },
        {
          name: 'busyPlusIdle',
          value: busyPlusIdle,
          formula: `busy ${busy} + MACHINES_TO_KEEP_IDLE=${s.MACHINES_TO_KEEP_IDLE}`,
        },
      ],
      combine: 'max(minActive, byTasks, busyPlusIdle)',
      floors,
      reasons: [],
    };
  },
});
