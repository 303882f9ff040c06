import type { Clock } from '../clock';

/**
 * Retries for provider HTTP calls: capped exponential backoff with jitter, Retry-After honoured.
 * Waiting goes through the Clock, so tests with a recording or fake clock do not wait for real.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included (>= 1). */
  maxAttempts: number;
  /** The backoff before the first retry (before jitter); it doubles on every further retry. */
  baseDelayMs: number;
  /** The backoff never exceeds this (before jitter). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 10_000 };

/**
 * The wait before retry number `retry` (1 = the first retry): min(max, base * 2^(retry-1)), of which
 * half is fixed and half random ("equal jitter"), so clients spread out but never retry at once.
 */
export function backoffDelayMs(retry: number, policy: RetryPolicy, random: () => number): number {
  const capped = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(capped / 2 + (r * capped) / 2);
}

/**
 * A Retry-After header in ms: delta-seconds ("7", "1.5") or an HTTP date (relative to `now`, never
 * negative). Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  if (!/[a-z]/i.test(v)) return undefined; // an HTTP date names its day and month ("-3" is not one)
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

/** What to do about a failed attempt: give up, or retry (after `delayMs`, else after the backoff). */
export type RetryDecision = { retry: false } | { retry: true; delayMs?: number };

export interface RetryOptions {
  policy: RetryPolicy;
  clock: Clock;
  random: () => number;
  classify(err: unknown): RetryDecision;
  /** Called before each wait (for logging). */
  onRetry?(info: { attempt: number; delayMs: number; error: unknown }): void;
}

/**
 * Runs `op` (given the attempt number, from 1) until it succeeds, `classify` says not to retry, or
 * the attempts are spent; then the last error is thrown as is (the caller turns it into its own).
 */
export async function withRetries<T>(op: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const max = Math.max(1, Math.floor(o.policy.maxAttempts));
  for (let attempt = 1; ; attempt++) {
    try {
      return await op(attempt);
    } catch (err) {
      const decision = o.classify(err);
      if (!decision.retry || attempt >= max) throw err;
      const delayMs = Math.max(0, decision.delayMs ?? backoffDelayMs(attempt, o.policy, o.random));
      o.onRetry?.({ attempt, delayMs, error: err });
      await o.clock.sleep(delayMs);
    }
  }
}
