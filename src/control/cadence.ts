/**
 * When control cycles run: on wall-clock multiples of POLL_INTERVAL_SEC (:00 and :30 for 30 s),
 * counted on the controller's clock. The live service (src/service.ts) and `simulate`
 * (src/sim/simulate.ts) both place their cycles with these, so a simulated run's cycles fall on the
 * same seconds as the service's would.
 */

/** The multiple of the interval at or before `tMs` (ms since the epoch). */
export function cycleSlotAtOrBefore(tMs: number, intervalMs: number): number {
  if (!(intervalMs > 0)) return tMs;
  return Math.floor(tMs / intervalMs) * intervalMs;
}

/**
 * When the next cycle starts: the first multiple of the interval strictly after `tMs` (the time a
 * cycle ended). A cycle that ran past one or more multiples skips them: cycles never run back to back.
 */
export function nextCycleAt(tMs: number, intervalMs: number): number {
  if (!(intervalMs > 0)) return tMs;
  return cycleSlotAtOrBefore(tMs, intervalMs) + intervalMs;
}
