import type { z } from 'zod';

/**
 * The policy seam. A policy answers one question each cycle: how many workers should there be,
 * before the caps? It is pure: the same view and settings give the same answer, live, in
 * `simulate` and in `what-if`. The caps (MAX_WORKERS, MAX_ACTIVE_GPUS, MAX_HOURLY_COST_USD), the
 * choice of which idle workers go, spawning timeouts and lifetimes stay outside the policies
 * (src/control) and apply to every policy alike.
 */

/** One observed cycle as a policy may look back at it (from TaskCountObserved events). */
export interface PastObservation {
  /** ISO time of the observation. */
  at: string;
  queued: number;
  active: number;
}

/** What a policy sees each cycle. Counts of workers are live workers (not being terminated). */
export interface PolicyView {
  now: Date;
  cycle: number;
  /** Tasks waiting and running now. */
  queued: number;
  active: number;
  workers: { total: number; active: number; spawning: number; busy: number; idle: number };
  /** GPUs one new worker takes (the provider's). */
  gpusPerWorker: number;
  /**
   * Earlier observations, oldest first, at most the policy's `lookbackSec` old, not including this
   * cycle. Derived from the record, so `what-if` and a restarted service see the same history.
   */
  recent: readonly PastObservation[];
}

/** A named number in the policy's formula, with how it was computed (rendered by one renderer). */
export interface PolicyTerm {
  /** Short name, e.g. `byTasks`. */
  name: string;
  value: number;
  /** The term's math with the cycle's numbers, e.g. `ceil(12 / (1 x 1))`. */
  formula: string;
}

export interface PolicyDecision {
  /** Workers wanted before the caps (an integer >= 0). */
  desired: number;
  terms: PolicyTerm[];
  /** How the terms combine into `desired`, e.g. `max(minActive, byTasks, busyPlusIdle)`. */
  combine: string;
  /** When desired < current: only workers idle at least this long may be removed. */
  scaleDownIdleSec: number;
  reasons: string[];
}

export interface Policy<S extends z.ZodType = z.ZodType> {
  /** The name `POLICY` and `--policy` select, recorded in every ScalingDecided. */
  name: string;
  /** One line for `--help` and the README. */
  description: string;
  /** Its settings, UPPER_SNAKE_CASE keys with defaults, read from the environment / flags / JSON. */
  settings: S;
  /** Seconds of past observations `decide` needs in `view.recent` (0: none). */
  lookbackSec(settings: z.infer<S>): number;
  decide(view: PolicyView, settings: z.infer<S>): PolicyDecision;
}
