/**
 * Capacity backoff, per placement candidate (RunPod: GPU type x data center; Kubernetes: the pod
 * shape). A candidate that had no capacity is not tried again for a delay that doubles with each
 * failure in a row, up to a cap, and resets on a success. While every candidate is backing off a
 * spawn would fail at once: the controller requests none (`capacityBlock`), and says until when.
 */
export interface CapacityBackoffPolicy {
  /** The delay after the first failure. */
  baseMs: number;
  /** The longest delay. */
  maxMs: number;
}

/** A candidate not tried until `until`, after `failures` capacity failures in a row. */
export interface BackingOff {
  until: Date;
  failures: number;
}

/** What a provider says when every one of its candidates is backing off. */
export interface CapacityBackoffState {
  /** The earliest time one candidate may be tried again. */
  until: string;
  /** One line: which candidates, and how often each had no capacity. */
  why: string;
}

/** The delay after the n-th capacity failure in a row (n >= 1): base x 2^(n-1), capped. */
export function backoffDelayMs(failures: number, policy: CapacityBackoffPolicy): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failures - 1));
}

/** Per-candidate state; each method takes the time, so the rule itself stays a pure function. */
export class CapacityBackoff {
  private readonly state = new Map<string, { failures: number; until: number }>();

  constructor(private readonly policy: CapacityBackoffPolicy) {}

  /** Records a capacity failure of `key` at `now`; returns its new backoff. */
  failed(key: string, now: Date): BackingOff {
    const failures = (this.state.get(key)?.failures ?? 0) + 1;
    const until = now.getTime() + backoffDelayMs(failures, this.policy);
    this.state.set(key, { failures, until });
    return { until: new Date(until), failures };
  }

  /** A success resets the candidate. */
  succeeded(key: string): void {
    this.state.delete(key);
  }

  /** The candidate's backoff at `now`, or null when it may be tried. */
  backingOff(key: string, now: Date): BackingOff | null {
    const s = this.state.get(key);
    if (!s || s.until <= now.getTime()) return null;
    return { until: new Date(s.until), failures: s.failures };
  }

  /**
   * When every one of `keys` is backing off at `now`: the earliest `until` (when one may be tried
   * again) and each key's failures; else null. No keys: null.
   */
  all(keys: readonly string[], now: Date): { until: Date; each: [string, BackingOff][] } | null {
    if (keys.length === 0 || this.policy.baseMs <= 0) return null;
    const each: [string, BackingOff][] = [];
    for (const k of keys) {
      const b = this.backingOff(k, now);
      if (!b) return null;
      each.push([k, b]);
    }
    const until = new Date(Math.min(...each.map(([, b]) => b.until.getTime())));
    return { until, each };
  }
}
