import type { SpawnFailureKind } from '../../events/worker';

export interface SpawnOutcome {
  at: string;
  ok: boolean;
  kind: SpawnFailureKind | null;
}

export interface BreakerSettings {
  windowSec: number;
  minSpawns: number;
  /** Open when failed / counted is above this (0..1). */
  failureRatio: number;
}

export const DEFAULT_BREAKER: BreakerSettings = { windowSec: 300, minSpawns: 5, failureRatio: 0.8 };

export interface BreakerState {
  open: boolean;
  counted: number;
  failed: number;
  reason: string | null;
}

/**
 * Kinds that say nothing about whether workers work: no capacity, a spawn we never tried, or the
 * provider refusing the account or the request (those stop spawning on their own, see spawnBlock).
 */
const NOT_WORKER_FAILURES: (SpawnFailureKind | null)[] = [
  'capacity',
  'stale',
  'blocked',
  'rate_limited',
  'auth',
  'billing',
  'invalid_request',
  'api_retired',
];

/**
 * Pure: the spawn circuit breaker. Open when more than `failureRatio` of the spawns in the last
 * `windowSec` failed, counting at least `minSpawns`. Capacity failures do not count: "no GPUs
 * available" is not a broken worker image, and counting it once stopped all spawning.
 */
export function breakerState(
  outcomes: readonly SpawnOutcome[],
  now: Date,
  s: BreakerSettings = DEFAULT_BREAKER,
): BreakerState {
  const since = now.getTime() - s.windowSec * 1000;
  const recent = outcomes.filter((o) => {
    const t = Date.parse(o.at);
    return t >= since && t <= now.getTime() && (o.ok || !NOT_WORKER_FAILURES.includes(o.kind));
  });
  const failed = recent.filter((o) => !o.ok).length;
  const open = recent.length >= s.minSpawns && failed / recent.length > s.failureRatio;
  return {
    open,
    counted: recent.length,
    failed,
    reason: open
      ? `circuit breaker open: ${failed} of ${recent.length} spawns failed in the last ${s.windowSec}s (over ${Math.round(s.failureRatio * 100)}%); capacity failures not counted`
      : null,
  };
}
