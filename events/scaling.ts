import { z } from 'zod';
import { count, cycleNo, isoTime } from './common';
import { defineEvent } from './define';

export const Decision = z.enum(['SCALE_UP', 'SCALE_DOWN', 'MAINTAIN']);
export type Decision = z.infer<typeof Decision>;

/** A cap or floor that changed the desired count, with its value. */
export const AppliedLimit = z.object({
  name: z.string(), // MAX_WORKERS, MAX_ACTIVE_GPUS, MIN_ACTIVE_GPUS
  value: count,
  from: count,
  to: count,
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
  }),
});
