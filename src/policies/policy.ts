import type { z } from 'zod';

/**
 * The policy seam. A policy answers one question each cycle: how many workers should there be,
 * before the caps? It is pure: the same view and settings give the same answer, live, in
 * `simulate` and in `what-if`. The caps (MAX_WORKERS, MAX_ACTIVE_GPUS, MAX_HOURLY_COST_USD), the
 * choice of which idle workers go (idle for GPU_IDLE_TIMEOUT_SEC, or the policy's own scaleDownIdle), spawning timeouts and lifetimes stay
 * outside the policies (src/control/policy.ts) and apply to every policy alike.
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
  /** Short name, e.g. `byTasks`: an identifier `combine` refers to. */
  name: string;
  value: number;
  /**
   * The term's math with the cycle's numbers, e.g. `ceil(12 / TASKS_PER_GPU=1)`. When it ends in
   * `=<value>` (a setting taken as it is) the renderer does not repeat the value.
   */
  formula: string;
}

/**
 * A floor inside a policy's own formula that raised the count: recorded with the caps as a limit of
 * kind `floor`, and rendered as one (src/policies/render.ts) whatever its name.
 */
export interface PolicyFloor {
  /** The setting, e.g. MIN_ACTIVE_GPUS. */
  name: string;
  value: number;
  /** What the setting counts. */
  unit: 'workers' | 'GPUs';
  /** Desired workers without the floor, and with it. */
  from: number;
  to: number;
  detail?: string;
}

export interface PolicyDecision {
  /** Workers wanted before the caps (an integer >= 0). */
  desired: number;
  terms: PolicyTerm[];
  /** How the terms combine into `desired`, by their names, e.g. `max(minActive, byTasks, busyPlusIdle)`. */
  combine: string;
  /** Floors of the policy's own (e.g. MIN_ACTIVE_GPUS) that raised desired; recorded before the caps (see `floorOf`). */
  floors?: PolicyFloor[];
  /**
   * Seconds a worker must be idle before it may be removed, when the policy has its own idle time
   * (unset: GPU_IDLE_TIMEOUT_SEC). The caps layer applies it; the record keeps it beside the terms.
   */
  scaleDownIdle?: { sec: number; setting: string };
  reasons: string[];
}

/** A zod object of settings: UPPER_SNAKE_CASE keys, each with its default (or optional). */
export type SettingsSchema = z.ZodObject<z.ZodRawShape>;

export interface Policy<S extends SettingsSchema = SettingsSchema> {
  /** The name `POLICY` and `--policy` select, recorded in every ScalingDecided. */
  name: string;
  /** One line for `--help` and the README. */
  description: string;
  /**
   * Its settings, UPPER_SNAKE_CASE keys with defaults, read from the environment (spread into the
   * configuration; validated only when this policy is in use) or `--set` in what-if.
   */
  settings: S;
  /** Seconds of past observations `decide` needs in `view.recent` (0: none). */
  lookbackSec(settings: z.infer<S>): number;
  /**
   * The setting of its own that takes the place of GPU_IDLE_TIMEOUT_SEC, when it has one (what its
   * decisions' scaleDownIdle carries). A deployment that sets GPU_IDLE_TIMEOUT_SEC and not this
   * setting gets GPU_IDLE_TIMEOUT_SEC's value in it: the idle timeout an operator set holds.
   */
  idleSetting?: keyof z.infer<S> & string;
  decide(view: PolicyView, settings: z.infer<S>): PolicyDecision;
}

/** A policy with its settings parsed: what the control loop, simulate and what-if run. */
export interface ChosenPolicy {
  policy: Policy;
  settings: Record<string, unknown>;
}

/**
 * The floor a policy's minimum setting put under the rest of its formula, when it raised it: the
 * record then says the floor did it, in every surface. `others` is desired without the floor.
 */
export function floorOf(
  f: { name: string; value: number; unit: PolicyFloor['unit']; workers: number; detail?: string },
  others: number,
): PolicyFloor[] {
  if (!(f.workers > others)) return [];
  return [
    {
      name: f.name,
      value: f.value,
      unit: f.unit,
      from: others,
      to: f.workers,
      ...(f.detail ? { detail: f.detail } : {}),
    },
  ];
}

/** Declares a policy (type-checks its decide against its own settings). */
export const definePolicy = <S extends SettingsSchema>(p: Policy<S>): Policy<S> => p;
