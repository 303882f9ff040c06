import { z } from 'zod';
import { count, cycleNo, isoTime, poolField } from './common';
import { defineEvent } from './define';

/** Ordinal of a spawn within its decision: "Worker 2/4". */
const ordinal = { ordinal: z.number().int().positive(), of: z.number().int().positive() };

export const WorkerSpawnRequested = defineEvent({
  type: 'WorkerSpawnRequested',
  schemaVersion: 1,
  schema: z.object({
    workerId: z.string(),
    at: isoTime,
    pool: poolField,
    cycle: cycleNo,
    decisionEventId: z.string(),
    ...ordinal,
    idempotencyKey: z.string(),
    provider: z.string(),
    /** GPUs the worker takes (the provider's gpusPerWorker when asked); null in events older than the field. */
    gpus: z.number().int().positive().nullable().default(null),
  }),
});

export const WorkerSpawned = defineEvent({
  type: 'WorkerSpawned',
  schemaVersion: 1,
  schema: z.object({
    workerId: z.string(),
    at: isoTime,
    pool: poolField,
    podId: z.string(),
    ...ordinal,
    /** True when the provider already had the pod (a retry after a crash found it). */
    recovered: z.boolean(),
    details: z.record(z.string(), z.unknown()).default({}),
    /** The pod's GPUs, as the provider reports them; null when it did not say (or an older event). */
    gpuCount: z.number().int().positive().nullable().default(null),
    /** What the pod bills, USD per hour, as placed; null when unknown (or an older event). */
    hourlyCostUsd: z.number().nonnegative().nullable().default(null),
  }),
});

export const SpawnFailureKind = z.enum([
  'capacity',
  'error',
  'auth',
  'billing',
  'invalid_request',
  'api_retired',
  'rate_limited',
  'stale',
  'blocked',
]);
export type SpawnFailureKind = z.infer<typeof SpawnFailureKind>;

export const WorkerSpawnFailed = defineEvent({
  type: 'WorkerSpawnFailed',
  schemaVersion: 1,
  schema: z.object({
    workerId: z.string(),
    at: isoTime,
    pool: poolField,
    ...ordinal,
    kind: SpawnFailureKind,
    error: z.string(),
    /** What the provider said in structured form (e.g. the placement candidates tried); absent on old events. */
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

/**
 * One step of a spawn whose create went unanswered (a timeout, a dropped connection, a 5xx: the pod
 * may have been made), or of a restart that finds a spawn requested and never answered. The worker
 * stays counted against every cap (it is `spawning` since its request) while its pod is looked for
 * by name; a create is sent again only after the lookup window passed with no such pod listed.
 * unanswered: create attempt `attempt` got no answer, looking for the pod for `lookSec`;
 * looking: after a restart, looking for the pod of an unanswered request for `lookSec`;
 * found: the pod was listed (the WorkerSpawned that follows is `recovered`);
 * not_listed: no such pod was listed within the window: creating again (or giving up).
 */
export const SpawnStepKind = z.enum(['unanswered', 'looking', 'found', 'not_listed']);
export type SpawnStepKind = z.infer<typeof SpawnStepKind>;

export const WorkerSpawnUnclear = defineEvent({
  type: 'WorkerSpawnUnclear',
  schemaVersion: 1,
  schema: z.object({
    workerId: z.string(),
    at: isoTime,
    pool: poolField,
    ...ordinal,
    step: SpawnStepKind,
    /** The create attempt this step is about (1 for the first POST); 0 for a restart's lookup. */
    attempt: z.number().int().nonnegative(),
    /** How long the pod is looked for by name in this step, seconds (0 when not looking). */
    lookSec: z.number().nonnegative(),
    detail: z.string(),
  }),
});

/** The pod is up and the worker can take tasks. */
export const WorkerActivated = defineEvent({
  type: 'WorkerActivated',
  schemaVersion: 1,
  schema: z.object({ workerId: z.string(), at: isoTime, pool: poolField, podId: z.string() }),
});

export const TerminationReason = z.enum([
  'idle',
  'spawning_timeout',
  'lifetime',
  'orphan',
  'exited',
  'lost',
  'shutdown',
  'manual',
  /** A spawn no longer wanted: demand fell while it was starting (src/control/cancel.ts). */
  'cancelled',
]);
export type TerminationReason = z.infer<typeof TerminationReason>;

export const WorkerTerminationRequested = defineEvent({
  type: 'WorkerTerminationRequested',
  schemaVersion: 1,
  schema: z.object({
    workerId: z.string(),
    at: isoTime,
    pool: poolField,
    cycle: cycleNo.nullable(),
    podId: z.string().nullable(),
    reason: TerminationReason,
    detail: z.string(),
  }),
});

export const WorkerTerminated = defineEvent({
  type: 'WorkerTerminated',
  schemaVersion: 1,
  schema: z.object({
    workerId: z.string(),
    at: isoTime,
    pool: poolField,
    podId: z.string().nullable(),
    reason: TerminationReason,
    detail: z.string(),
    /** The worker ended as a failure (stuck spawning, crashed, lost), not by plan. */
    failed: z.boolean(),
    exitCode: z.number().int().nullable().default(null),
    gpuSeconds: count.nullable().default(null),
  }),
});

/** A pod of ours (by name prefix) that no worker accounts for: terminated by reconciliation. */
export const OrphanPodTerminated = defineEvent({
  type: 'OrphanPodTerminated',
  schemaVersion: 1,
  schema: z.object({
    at: isoTime,
    pool: poolField,
    cycle: cycleNo,
    provider: z.string(),
    podId: z.string(),
    name: z.string(),
    idempotencyKey: z.string().nullable(),
    reason: z.string(),
  }),
});
