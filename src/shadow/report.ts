import type { DataOf } from '../../events/index';
import { evolveWouldBe, type WouldBeFleet } from './fleet';

type Intended = DataOf<'ActionIntended'>;
type Listed = DataOf<'FleetObserved'>;
type Observed = Pick<DataOf<'TaskCountObserved'>, 'cycle' | 'at' | 'queued' | 'active'>;

export interface ShadowReportInput {
  from: Date;
  to: Date;
  /** Every intended action up to `to`, in order (those before `from` make the would-be fleet it starts with). */
  intended: readonly Intended[];
  /** The fleet as listed each cycle run in shadow, in order (those in the window count). */
  listed: readonly Listed[];
  /** The task counts observed in the window, in order. */
  observed: readonly Observed[];
  /** How many moments of disagreement to list (default 5). */
  top?: number;
}

/** One cycle compared: the would-be fleet as that cycle decided from it, and the fleet as listed then. */
export interface ShadowMoment {
  cycle: number;
  at: string;
  wouldBeGpus: number;
  actualGpus: number;
  /** wouldBe - actual: positive, it would have run more GPUs. */
  difference: number;
  queued: number | null;
  active: number | null;
}

export interface ShadowReport {
  from: string;
  to: string;
  /** Cycles compared (those with a listing of the fleet). */
  cycles: number;
  /** Seconds covered: each listing counts until the next, a gap over 5 typical cycles only 5 of them. */
  coveredSec: number;
  gaps: number;
  gpuHours: { wouldBe: number; actual: number };
  spawns: { wouldBe: number; actual: number };
  terminations: { wouldBe: number; actual: number };
  peakGpus: { wouldBe: number; actual: number };
  /** Cycles where the would-be fleet had more GPUs, fewer, or the same. */
  cyclesWouldBe: { more: number; fewer: number; same: number };
  /** The cycles they disagreed most, largest difference first. */
  disagreements: ShadowMoment[];
  /**
   * The waits the tasks saw (under the actual fleet), from the task counts: queued task-hours, the
   * peak queue, the share of cycles with tasks waiting, the longest stretch with tasks waiting, and
   * the cycles tasks waited while the would-be fleet had more GPUs than the actual one.
   */
  waits: {
    observations: number;
    queuedTaskHours: number;
    peakQueued: number;
    peakQueuedAt: string | null;
    cyclesWithQueued: number;
    longestWaitingStretchSec: number;
    waitingWhileWouldBeLarger: number;
  };
}

const ms = (s: string) => Date.parse(s);
const median = (xs: number[]): number => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const gpusOf = (f: WouldBeFleet) => [...f.values()].reduce((n, w) => n + (w.gpus ?? 1), 0);
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * What the service would have done against what the fleet did, pure: the would-be fleet is the
 * intended actions folded in order, read at each cycle as that cycle decided from it (the actions of
 * earlier cycles); the actual fleet is the provider's pods listed at the start of the same cycle. A
 * listing counts until the next one (the last one for a typical cycle); a gap longer than five
 * typical cycles (the service was down) counts five and is reported. A pod first listed is a spawn
 * of the actual fleet, a pod no longer listed a termination (the first listing is the baseline).
 */
export function shadowReport(input: ShadowReportInput): ShadowReport {
  const from = input.from.getTime();
  const to = input.to.getTime();
  const listed = input.listed.filter((l) => ms(l.at) >= from && ms(l.at) <= to);
  const observedByCycle = new Map(input.observed.map((o) => [o.cycle, o]));

  // the would-be fleet as each listed cycle decided from it
  const byCycle = [...input.intended].sort((a, b) => a.cycle - b.cycle || ms(a.at) - ms(b.at));
  let fleet: WouldBeFleet = new Map();
  let next = 0;
  const moments: ShadowMoment[] = [];
  for (const l of listed) {
    while (next < byCycle.length && byCycle[next].cycle < l.cycle) fleet = evolveWouldBe(fleet, byCycle[next++]);
    const o = observedByCycle.get(l.cycle);
    const wouldBeGpus = gpusOf(fleet);
    moments.push({
      cycle: l.cycle,
      at: l.at,
      wouldBeGpus,
      actualGpus: l.gpus,
      difference: wouldBeGpus - l.gpus,
      queued: o?.queued ?? null,
      active: o?.active ?? null,
    });
  }

  const steps = moments.slice(1).map((m, i) => ms(m.at) - ms(moments[i].at));
  const typical = median(steps);
  const maxStep = typical * 5;
  let gaps = 0;
  let coveredMs = 0;
  let wouldBeGpuMs = 0;
  let actualGpuMs = 0;
  moments.forEach((m, i) => {
    let dt = i + 1 < moments.length ? ms(moments[i + 1].at) - ms(m.at) : Math.min(typical, Math.max(0, to - ms(m.at)));
    if (dt > maxStep) {
      gaps += 1;
      dt = maxStep;
    }
    coveredMs += dt;
    wouldBeGpuMs += m.wouldBeGpus * dt;
    actualGpuMs += m.actualGpus * dt;
  });

  let actualSpawns = 0;
  let actualEnds = 0;
  listed.forEach((l, i) => {
    if (i === 0) return;
    const before = new Set(listed[i - 1].podIds);
    const now = new Set(l.podIds);
    for (const p of now) if (!before.has(p)) actualSpawns += 1;
    for (const p of before) if (!now.has(p)) actualEnds += 1;
  });
  const inWindow = input.intended.filter((a) => ms(a.at) >= from && ms(a.at) <= to);

  // waits, from the task counts of the cycles compared (a cycle before the switch to shadow, or
  // after it ended, was gpu-scaler acting: not the fleet this report is about)
  const compared = new Set(listed.map((l) => l.cycle));
  const observed = input.observed.filter((o) => compared.has(o.cycle) && ms(o.at) >= from && ms(o.at) <= to);
  const obsSteps = observed.slice(1).map((o, i) => ms(o.at) - ms(observed[i].at));
  const obsTypical = median(obsSteps);
  let queuedMs = 0;
  let stretch = 0;
  let longest = 0;
  let peak: Observed | null = null;
  observed.forEach((o, i) => {
    const dt = Math.min(i + 1 < observed.length ? ms(observed[i + 1].at) - ms(o.at) : obsTypical, obsTypical * 5);
    queuedMs += o.queued * dt;
    if (!peak || o.queued > peak.queued) peak = o;
    if (o.queued > 0) {
      stretch += dt;
      longest = Math.max(longest, stretch);
    } else stretch = 0;
  });
  const peakObs = peak as Observed | null;

  return {
    from: input.from.toISOString(),
    to: input.to.toISOString(),
    cycles: moments.length,
    coveredSec: Math.round(coveredMs / 1000),
    gaps,
    gpuHours: { wouldBe: round(wouldBeGpuMs / 3_600_000), actual: round(actualGpuMs / 3_600_000) },
    spawns: { wouldBe: inWindow.filter((a) => a.action === 'spawn').length, actual: actualSpawns },
    terminations: { wouldBe: inWindow.filter((a) => a.action === 'terminate').length, actual: actualEnds },
    peakGpus: {
      wouldBe: Math.max(0, ...moments.map((m) => m.wouldBeGpus)),
      actual: Math.max(0, ...moments.map((m) => m.actualGpus)),
    },
    cyclesWouldBe: {
      more: moments.filter((m) => m.difference > 0).length,
      fewer: moments.filter((m) => m.difference < 0).length,
      same: moments.filter((m) => m.difference === 0).length,
    },
    disagreements: moments
      .filter((m) => m.difference !== 0)
      .sort((a, b) => Math.abs(b.difference) - Math.abs(a.difference) || ms(a.at) - ms(b.at))
      .slice(0, input.top ?? 5),
    waits: {
      observations: observed.length,
      queuedTaskHours: round(queuedMs / 3_600_000),
      peakQueued: peakObs?.queued ?? 0,
      peakQueuedAt: peakObs && peakObs.queued > 0 ? peakObs.at : null,
      cyclesWithQueued: observed.filter((o) => o.queued > 0).length,
      longestWaitingStretchSec: Math.round(longest / 1000),
      waitingWhileWouldBeLarger: moments.filter((m) => (m.queued ?? 0) > 0 && m.difference > 0).length,
    },
  };
}
