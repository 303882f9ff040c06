import { z } from 'zod';
import { count, cycleNo, isoTime, poolField } from './common';
import { defineEvent } from './define';

/**
 * Parked pods (docs/parked-pods.md). A worker removed for idleness may be parked instead of
 * terminated: its pod is stopped (GPU released and unbilled, disk kept) and the worker keeps its id,
 * its pod and its pod's name. When workers are wanted, a parked one is started again before any new
 * pod is created. Every event carries the pool it belongs to (`default` until there are pools).
 */
const pool = poolField;
/** The decision slot an unpark fills: spawn `ordinal` of `of` of the decision `decisionEventId`. */
const slot = {
  cycle: cycleNo,
  decisionEventId: z.string(),
  ordinal: z.number().int().positive(),
  of: z.number().int().positive(),
};

/** The worker's pod was stopped and kept: the worker takes no tasks and counts toward no cap. */
export const WorkerParked = defineEvent({
  type: 'WorkerParked',
  schemaVersion: 1,
  schema: z.object({
    workerId: z.string(),
    at: isoTime,
    podId: z.string(),
    pool,
    cycle: cycleNo.nullable(),
    /** Why (the idle pick's reason) and how full the pool is now. */
    detail: z.string(),
    /** Parked pods in the pool with this one, and PARKED_MAX. */
    parked: count,
    parkedMax: count,
    /** GPU-seconds of the life that ended here (from its spawn or last unpark to the stop). */
    gpuSeconds: count.nullable(),
    /** What the parked pod bills per hour (its disk), USD; null when unknown. */
    parkedHourlyUsd: z.number().nonnegative().nullable(),
  }),
});

/** A parked worker's pod was started again to fill a decision's spawn; the worker is spawning until its pod is up. */
export const WorkerUnparked = defineEvent({
  type: 'WorkerUnparked',
  schemaVersion: 1,
  schema: z.object({
    workerId: z.string(),
    at: isoTime,
    podId: z.string(),
    pool,
    ...slot,
    /** When it was parked. */
    parkedAt: isoTime,
    details: z.record(z.string(), z.unknown()).default({}),
    gpuCount: z.number().int().nonnegative().nullable().default(null),
    hourlyCostUsd: z.number().nonnegative().nullable().default(null),
  }),
});

/**
 * A parked worker's start was refused (RunPod: 400, not enough free GPUs on the host machine; the
 * pod gone; back without its GPUs): its pod was terminated and the worker ended; the slot falls
 * through to a cold create in the same cycle.
 */
export const WorkerUnparkRefused = defineEvent({
  type: 'WorkerUnparkRefused',
  schemaVersion: 1,
  schema: z.object({
    workerId: z.string(),
    at: isoTime,
    podId: z.string(),
    pool,
    ...slot,
    parkedAt: isoTime,
    /** The provider's error kind ('capacity' for a refused start). */
    kind: z.string(),
    error: z.string(),
  }),
});
