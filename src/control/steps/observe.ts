import type { Clock } from '../../clock';
import { parseTaskCount, rawForEvent, type TaskCount, type TaskSource } from '../../sources/source';

export interface ObserveContext {
  source: TaskSource;
  clock: Clock;
  /** TASK_SOURCE_TIMEOUT_SEC, in milliseconds. */
  timeoutMs: number;
  /** TASK_COUNT_MAX: a larger count is rejected. */
  maxCount: number;
}

export type Observation =
  | { ok: true; value: TaskCount; responseMs: number }
  | { ok: false; reason: string; raw: string | null; responseMs: number };

const TIMEOUT = Symbol('timeout');

/** Observe: reads the task source with a timeout and validates the answer. */
export async function observeTasks(ctx: ObserveContext, workerIds: string[]): Promise<Observation> {
  const { clock, source, timeoutMs } = ctx;
  const started = clock.now().getTime();
  const abort = new AbortController();
  let raw: unknown;
  try {
    raw = await Promise.race([
      source.fetch({ workerIds, signal: abort.signal }),
      clock.sleep(timeoutMs, abort.signal).then(() => TIMEOUT),
    ]);
  } catch (err) {
    abort.abort();
    return {
      ok: false,
      reason: `task source ${source.name} failed: ${(err as Error).message}`,
      raw: null,
      responseMs: clock.now().getTime() - started,
    };
  }
  abort.abort();
  const responseMs = clock.now().getTime() - started;
  if (raw === TIMEOUT) {
    return { ok: false, reason: `task source ${source.name} timed out after ${timeoutMs} ms`, raw: null, responseMs };
  }
  const parsed = parseTaskCount(raw, ctx.maxCount);
  if (!parsed.ok) return { ok: false, reason: parsed.reason, raw: rawForEvent(raw), responseMs };
  return { ok: true, value: parsed.value, responseMs };
}
