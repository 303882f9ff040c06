import { seededRandom } from '../src/clock';

/**
 * Traffic of the shapes real GPU queues show, generated from a seed, for judging a policy on
 * traffic it was not tuned on (the shared traces are what `default` was tuned on). Run times are
 * log-normal (median 22 s, as the Alibaba trace's); arrivals are Poisson at a rate that follows
 * the shape, drawn by thinning. Loads are in busy GPUs (arrival rate x mean run time).
 */
export interface SyntheticShape {
  name: string;
  /** What it models, for the table. */
  what: string;
  spanSec: number;
  /** Busy GPUs wanted at time t (seconds from the start). */
  load(t: number): number;
  /** Median run time, seconds. */
  medianRunSec: number;
}

export const SHAPES: SyntheticShape[] = [
  { name: 'steady', what: 'Poisson at 2 busy GPUs, 6 h', spanSec: 6 * 3600, load: () => 2, medianRunSec: 22 },
  {
    name: 'diurnal',
    what: 'a day from 0.5 to 6 busy GPUs and back',
    spanSec: 24 * 3600,
    load: (t) => 0.5 + 5.5 * (0.5 - 0.5 * Math.cos((2 * Math.PI * t) / 86_400)),
    medianRunSec: 22,
  },
  {
    name: 'on-off',
    what: '10 min at 5 busy GPUs, 20 min at 0.3, 6 h',
    spanSec: 6 * 3600,
    load: (t) => (t % 1800 < 600 ? 5 : 0.3),
    medianRunSec: 22,
  },
  {
    name: 'ramps',
    what: 'short tasks (5 s), load ramping 0.2 -> 8 -> 0.2 every 2 h, 6 h',
    spanSec: 6 * 3600,
    load: (t) => 0.2 + 8 * (1 - Math.abs((2 * (t % 7200)) / 7200 - 1)),
    medianRunSec: 5,
  },
];

const SIGMA = 0.6;

/** The shape's tasks as CSV (`arrival,duration`, seconds), the same for the same seed. */
export function syntheticTrace(shape: SyntheticShape, seed: number): string {
  const random = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  // mean of a log-normal: median x e^(sigma^2 / 2)
  const meanRun = shape.medianRunSec * Math.exp((SIGMA * SIGMA) / 2);
  let peak = 0;
  for (let t = 0; t < shape.spanSec; t += 60) peak = Math.max(peak, shape.load(t));
  const peakRate = peak / meanRun;
  const rows = ['arrival,duration'];
  let t = 0;
  for (;;) {
    t += -Math.log(1 - random()) / peakRate;
    if (t >= shape.spanSec) break;
    if (random() * peak >= shape.load(t)) continue;
    const run = Math.max(1, shape.medianRunSec * Math.exp(SIGMA * normal()));
    rows.push(`${t.toFixed(3)},${run.toFixed(2)}`);
  }
  return `${rows.join('\n')}\n`;
}
