import type { Clock } from '../../clock';
import type { SourceFallback } from '../../policies/render';
import { parseTaskCount, rawForEvent, type TaskCount, type TaskSource } from '../../sources/source';
import type { ConditionInput } from '../conditions';
import { sourceFallback } from './fallback';
import type { CycleMemory } from './memory';

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

export interface SourceContext extends ObserveContext {
  /** SOURCE_FAILURE_CYCLES and FALLBACK_WORKERS (see sourceFallbackSettings). */
  fallback: SourceFallback;
}

/** What a cycle read from the task source, and what it decides from. */
export interface SourceReading {
  observed: Observation;
  /** The count decided from: the one observed, or (a fallback) the last valid count's queued and active. */
  tasks: TaskCount;
  /** The last valid count's queued and active (zeros when there was none), recorded with a fallback's decision. */
  lastCount: { queued: number; active: number };
  /** Cycles in a row without a valid count before this one, and with it. */
  failedBefore: number;
  failures: number;
  /** The fallback that decides (the source failed SOURCE_FAILURE_CYCLES cycles in a row); null: the policy decides, or (count rejected) none does. */
  fallback: SourceFallback | null;
}

/** Observe the task source for the workers of `fleet`; counts the failures in a row in `memory`. */
export async function readSource(
  ctx: SourceContext,
  memory: Pick<CycleMemory, 'sourceFailures' | 'lastTaskCount'>,
  fleet: readonly { workerId: string }[],
): Promise<SourceReading> {
  const observed = await observeTasks(
    ctx,
    fleet.map((w) => w.workerId),
  );
  const failedBefore = memory.sourceFailures;
  memory.sourceFailures = observed.ok ? 0 : failedBefore + 1;
  const failures = memory.sourceFailures;
  const fallback = observed.ok ? null : sourceFallback(ctx.fallback, failures);
  const lastCount = { queued: memory.lastTaskCount?.queued ?? 0, active: memory.lastTaskCount?.active ?? 0 };
  const tasks = observed.ok ? observed.value : { ...lastCount, workers: null };
  return { observed, tasks, lastCount, failedBefore, failures, fallback };
}

/** The source's part of the conditions (SourceHealthy). */
export function sourceCondition(name: string, r: SourceReading): NonNullable<ConditionInput['source']> {
  const { observed } = r;
  return observed.ok
    ? { name, ok: true, failedBefore: r.failedBefore }
    : { name, ok: false, reason: observed.reason, failedCycles: r.failures, fallback: r.fallback };
}
