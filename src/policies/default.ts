import { z } from 'zod';
import { int, num } from '../settings';
import { definePolicy } from './policy';

/** POLICY=default settings (spread into the configuration; validated only when it is in use). */
export const DEFAULT_POLICY_SETTINGS = {
  /** Seconds of past task counts the warm pool is sized from (the mean of running tasks over them). */
  WARM_LOOKBACK_SEC: int(0).default(300),
  /** Spare workers over the recent mean demand, in standard deviations of a Poisson load (sqrt of the mean). */
  WARM_HEADROOM: num(0).default(0.5),
  /** Share of the queue that gets new workers at once (the rest waits for running tasks to end or the next cycle). */
  WARM_QUEUE_SHARE: num(0, 1).default(0.7),
  /**
   * Seconds a worker must be idle before this policy lets it go (in place of GPU_IDLE_TIMEOUT_SEC):
   * about twice the mean cold start, so a worker is kept while it would likely be needed again
   * before a new pod could be up.
   */
  WARM_IDLE_SEC: int(0).default(240),
};

const r2 = (x: number) => Math.round(x * 100) / 100;

/**
 * A warm pool sized from the recent arrival of work, plus a measured response to the queue.
 *
 *   demand   = mean of the active (running) tasks over the last WARM_LOOKBACK_SEC, this cycle included
 *   warm     = ceil(demand + WARM_HEADROOM x sqrt(demand))          (0 when there was no demand)
 *   byQueue  = busy + ceil(queued x WARM_QUEUE_SHARE)
 *   desired  = max(warm, byQueue), in workers of G GPUs
 *   workers beyond desired go once idle for WARM_IDLE_SEC (instead of GPU_IDLE_TIMEOUT_SEC)
 *
 * Cold GPU pods take minutes to start, so most waiting is start-up: workers kept warm in proportion
 * to the recent load take the next tasks at once (the square-root rule of staffing a queue), and a
 * short spike, which running workers drain before a new pod would be up, does not buy a pod per
 * task that then idles. A queue that persists gets more pods every cycle. Idle workers go after
 * WARM_IDLE_SEC: a worker idle that long is surplus to the recent load (the warm pool keeps the
 * ones it needs), and keeping it longer than about two cold starts costs more than starting anew.
 */
export const defaultPolicy = definePolicy({
  name: 'default',
  description:
    'a warm pool of mean recent running tasks + WARM_HEADROOM x sqrt(that), and busy + WARM_QUEUE_SHARE of the queue; idle workers go after WARM_IDLE_SEC',
  settings: z.object(DEFAULT_POLICY_SETTINGS),
  lookbackSec: (s) => s.WARM_LOOKBACK_SEC,
  idleSetting: 'WARM_IDLE_SEC',
  decide(view, s) {
    const g = view.gpusPerWorker;
    const totals = [...view.recent.map((o) => o.active), view.active];
    const demand = totals.reduce((a, b) => a + b, 0) / totals.length;
    const warmGpus = demand > 0 ? demand + s.WARM_HEADROOM * Math.sqrt(demand) : 0;
    const warm = Math.ceil(warmGpus / g - 1e-9);
    const busy = view.workers.busy;
    const byQueue = busy + Math.ceil((view.queued * s.WARM_QUEUE_SHARE) / g - 1e-9);
    const desired = Math.max(warm, byQueue);
    return {
      desired,
      terms: [
        {
          name: 'warm',
          value: warm,
          formula: `ceil(${r2(demand)} + WARM_HEADROOM=${s.WARM_HEADROOM} x sqrt(${r2(demand)})${g === 1 ? '' : ` / ${g} GPUs`}) over ${totals.length} counts in WARM_LOOKBACK_SEC=${s.WARM_LOOKBACK_SEC}`,
        },
        {
          name: 'byQueue',
          value: byQueue,
          formula: `busy ${busy} + ceil(queued ${view.queued} x WARM_QUEUE_SHARE=${s.WARM_QUEUE_SHARE}${g === 1 ? '' : ` / ${g} GPUs`})`,
        },
      ],
      combine: 'max(warm, byQueue)',
      scaleDownIdle: { sec: s.WARM_IDLE_SEC, setting: 'WARM_IDLE_SEC' },
      reasons: [],
    };
  },
});
