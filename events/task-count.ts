import { z } from 'zod';
import { count, cycleNo, isoTime, poolField } from './common';
import { defineEvent } from './define';

/** What a task source may say about one worker, when it can tell. */
export const WorkerActivity = z.object({
  workerId: z.string(),
  /** Tasks this worker holds right now. */
  activeTasks: count,
  /** When it last finished a task (ISO), if ever. */
  lastTaskAt: isoTime.nullable(),
});
export type WorkerActivity = z.infer<typeof WorkerActivity>;

export const TaskCountObserved = defineEvent({
  type: 'TaskCountObserved',
  schemaVersion: 1,
  schema: z.object({
    cycle: cycleNo,
    at: isoTime,
    pool: poolField,
    source: z.string(),
    queued: count,
    active: count,
    total: count,
    responseMs: z.number().nonnegative(),
    /** Per-worker activity, when the source can give it (null when it cannot). */
    workers: z.array(WorkerActivity).nullable(),
  }),
});

export const TaskCountRejected = defineEvent({
  type: 'TaskCountRejected',
  schemaVersion: 1,
  schema: z.object({
    cycle: cycleNo,
    at: isoTime,
    pool: poolField,
    source: z.string(),
    reason: z.string(),
    /** The raw answer, cut to a safe length. */
    raw: z.string().max(1000).nullable(),
    responseMs: z.number().nonnegative(),
  }),
});
