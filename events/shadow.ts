import { z } from 'zod';
import { count, cycleNo, DEFAULT_POOL, isoTime, poolField } from './common';
import { defineEvent } from './define';

/**
 * Shadow mode and the hand-over from another orchestrator (docs/shadow-mode.md): what the service
 * would have done, the fleet something else runs as the provider listed it, and the pods adopted
 * from it. Like every event, each carries its pool (events/common.ts).
 */

/** MODE: `active` acts on its decisions; `shadow` records what it would do and never calls create or delete. */
export const Mode = z.enum(['active', 'shadow']);
export type Mode = z.infer<typeof Mode>;

/** The pool there is until pools run (events/common.ts defines it). */
export { DEFAULT_POOL };

const pool = poolField;

/** What a shadow reactor would have done for a decision: a spawn or a termination, never made. */
export const IntendedActionKind = z.enum(['spawn', 'terminate']);
export type IntendedActionKind = z.infer<typeof IntendedActionKind>;

/**
 * One spawn or termination a decision made in shadow would have made. A spawn names the would-be
 * worker (the id an active reactor would have given it); a termination names the would-be worker
 * it ends. Folded in order they are the would-be fleet (src/shadow/fleet.ts).
 */
export const ActionIntended = defineEvent({
  type: 'ActionIntended',
  schemaVersion: 1,
  schema: z.object({
    at: isoTime,
    cycle: cycleNo,
    pool,
    decisionEventId: z.string(),
    action: IntendedActionKind,
    workerId: z.string(),
    podId: z.string().nullable(),
    /** GPUs the worker takes (a spawn: the provider's gpusPerWorker). */
    gpus: z.number().int().positive(),
    /** What it would bill, USD per hour (a spawn: the decision's quote); null: unknown. */
    hourlyCostUsd: z.number().nonnegative().nullable().default(null),
    /** A spawn: `scale_up`; a termination: its TerminationReason (idle, spawning_timeout, lifetime, cancelled). */
    reason: z.string(),
    /** The decision's words for it (a termination pick's reason, a spawn's "worker 2 of 3"). */
    detail: z.string(),
  }),
});

/**
 * The provider's pods as listed in a cycle run in shadow, whoever manages them: what the fleet
 * actually was (shadow-report compares it with the would-be fleet).
 */
export const FleetObserved = defineEvent({
  type: 'FleetObserved',
  schemaVersion: 1,
  schema: z.object({
    at: isoTime,
    cycle: cycleNo,
    pool,
    provider: z.string(),
    /** Pods listed and not ended (starting or running). */
    pods: count,
    running: count,
    gpus: count,
    /** Their ids, sorted: a pod first listed is a spawn of the fleet. */
    podIds: z.array(z.string()),
  }),
});

/**
 * A pod something else made, taken into the workers by `gpu-scaler adopt`: from then on it is a
 * worker like the ones gpu-scaler spawned (counted, scaled down when idle, terminated at the end).
 */
export const WorkerAdopted = defineEvent({
  type: 'WorkerAdopted',
  schemaVersion: 1,
  schema: z.object({
    workerId: z.string(),
    at: isoTime,
    pool,
    provider: z.string(),
    podId: z.string(),
    name: z.string(),
    /** The pod's status when adopted: running pods are active workers, starting ones spawning. */
    podStatus: z.enum(['starting', 'running']),
    gpuCount: z.number().int().positive().nullable(),
    hourlyCostUsd: z.number().nonnegative().nullable(),
    /** The --name-prefix it was adopted by, and who ran the command. */
    namePrefix: z.string(),
    by: z.string(),
  }),
});
