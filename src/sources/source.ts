import { z } from 'zod';
import { WorkerActivity } from '../../events/task-count';

/**
 * A task source answers "how many tasks are queued and active?". Its answer is untrusted: the
 * controller validates it (`parseTaskCount`) and records a TaskCountRejected instead of acting on
 * anything that does not validate.
 */
export interface TaskSource {
  readonly name: string;
  /** The raw answer; `workerIds` are the live workers, for per-worker activity where supported. */
  fetch(opts: { workerIds: string[]; signal: AbortSignal }): Promise<unknown>;
  close?(): Promise<void>;
}

export interface TaskCount {
  queued: number;
  active: number;
  workers: WorkerActivity[] | null;
}

function taskCountSchema(max: number) {
  const n = z
    .number({
      error: (i) =>
        i.input === undefined
          ? 'missing'
          : typeof i.input === 'number' && !Number.isNaN(i.input)
            ? 'not finite'
            : `not a number (got ${typeof i.input === 'number' ? 'NaN' : typeof i.input})`,
    })
    .refine((v) => Number.isFinite(v), 'not finite')
    .refine((v) => Number.isInteger(v), 'not a whole number')
    .refine((v) => v >= 0, 'negative')
    .refine((v) => v <= max, `over the ceiling TASK_COUNT_MAX=${max}`);
  return z.object({
    queued: n,
    active: n,
    workers: z.array(WorkerActivity).nullable().optional(),
  });
}

/** Validates a raw answer; returns the count or the reason it was rejected. */
export function parseTaskCount(
  raw: unknown,
  max: number,
): { ok: true; value: TaskCount } | { ok: false; reason: string } {
  const res = taskCountSchema(max).safeParse(raw);
  if (!res.success) {
    const reason = res.error.issues
      .map((i) => `${i.path.length ? i.path.join('.') : 'answer'}: ${i.message}`)
      .join('; ');
    return { ok: false, reason: `invalid task count: ${reason}` };
  }
  return { ok: true, value: { queued: res.data.queued, active: res.data.active, workers: res.data.workers ?? null } };
}

/** The raw answer as text, cut to a safe length for an event. */
export function rawForEvent(raw: unknown, max = 500): string | null {
  if (raw === undefined) return null;
  let text: string;
  try {
    text = typeof raw === 'string' ? raw : (JSON.stringify(raw) ?? String(raw));
  } catch {
    text = String(raw);
  }
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}
