import { z } from 'zod';
import { count, cycleNo, isoTime } from './common';
import { defineEvent } from './define';

export const Decision = z.enum(['SCALE_UP', 'SCALE_DOWN', 'MAINTAIN']);
export type Decision = z.infer<typeof Decision>;

/** A cap or floor that changed the desired count, with its value. */
export const AppliedLimit = z.object({
  name: z.string(), // MAX_WORKERS, MAX_ACTIVE_GPUS, MIN_ACTIVE_GPUS, MAX_HOURLY_COST_USD
  /** The setting's value: workers (MAX_WORKERS), GPUs (MIN/MAX_ACTIVE_GPUS), USD per hour (MAX_HOURLY_COST_USD). */
  value: z.number().nonnegative(),
  /** Desired workers before and after this limit. */
  from: count,
  to: count,
  /** The limit's math in GPUs or USD, e.g. "3 x 0.69 = 2.07 USD/h"; absent in older events. */
  detail: z.string().optional(),
});
export type AppliedLimit = z.infer<typeof AppliedLimit>;

export const PolicySettings = z.object({
  policy: z.string(),
  TASKS_PER_GPU: z.number().positive(),
  MIN_ACTIVE_GPUS: count,
  MAX_WORKERS: count,
  MAX_ACTIVE_GPUS: count,
  MACHINES_TO_KEEP_IDLE: count,
  GPU_IDLE_TIMEOUT_SEC: z.number().nonnegative(),
  SPAWNING_TIMEOUT_SEC: z.number().nonnegative(),
  WORKER_MAX_LIFETIME_SEC: z.number().positive().nullable().default(null),
  /** The burn-rate cap, USD per hour; null: off (and in events older than the setting). */
  MAX_HOURLY_COST_USD: z.number().nonnegative().nullable().default(null),
});
export type PolicySettings = z.infer<typeof PolicySettings>;

export const TerminationPick = z.object({
  workerId: z.string(),
  podId: z.string().nullable(),
  idleSec: z.number().nonnegative().nullable(),
  reason: z.string(),
});
export type TerminationPick = z.infer<typeof TerminationPick>;

/** One cycle's decision with all of its math, so it explains itself from the record alone. */
export const ScalingDecided = defineEvent({
  type: 'ScalingDecided',
  schemaVersion: 1,
  schema: z.object({
    cycle: cycleNo,
    at: isoTime,
    queued: count,
    active: count,
    total: count,
    current: z.object({ active: count, spawning: count, total: count }),
    busy: count,
    idle: count,
    /** The terms of max(MIN_ACTIVE_GPUS, ceil(total / TASKS_PER_GPU), busy + MACHINES_TO_KEEP_IDLE). */
    terms: z.object({ minActive: count, byTasks: count, busyPlusIdle: count }),
    desiredBeforeCaps: count,
    /** What the policy wanted before the hard GPU budget (after MAX_WORKERS). */
    requested: count,
    limits: z.array(AppliedLimit),
    desired: count,
    decision: Decision,
    /** Workers to add (SCALE_UP) or remove (SCALE_DOWN); 0 for MAINTAIN. */
    delta: count,
    terminate: z.array(TerminationPick),
    /** Workers stuck in spawning past SPAWNING_TIMEOUT_SEC: terminated and recorded as failed. */
    timedOut: z.array(TerminationPick),
    /** Workers past WORKER_MAX_LIFETIME_SEC: terminated (and replaced if still needed). */
    expired: z.array(TerminationPick).default([]),
    /** Why spawning was stopped this cycle (circuit breaker, refused credentials), if it was. */
    spawnBlocked: z.string().nullable().default(null),
    reasons: z.array(z.string()),
    settings: PolicySettings,
    /** GPUs one new worker takes (the provider's); events older than the field were 1 GPU a worker. */
    gpusPerWorker: z.number().int().positive().default(1),
    /** GPUs of the live fleet the decision counted (incl. terminating); null in older events. */
    currentGpus: count.nullable().default(null),
    /** Prices the cost cap used: the fleet's burn and one more worker's quote, USD/h; null: unknown. */
    burnUsdPerHour: z.number().nonnegative().nullable().default(null),
    quoteUsdPerHour: z.number().nonnegative().nullable().default(null),
  }),
});
