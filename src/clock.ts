/** Whole seconds from `from` (a Date or an ISO time) to `to`, never negative (a later `from` reads as 0). */
export function secondsBetween(from: Date | string, to: Date): number {
  const start = typeof from === 'string' ? Date.parse(from) : from.getTime();
  return Math.max(0, Math.floor((to.getTime() - start) / 1000));
}

/** Time at the edge: the live service uses the system clock, tests and simulations a fake one. */
export interface Clock {
  now(): Date;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const sleepReal: Clock['sleep'] = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export interface MonotonicClockOptions {
  /** The wall clock, ms since the epoch (default Date.now). */
  wall?: () => number;
  /** A monotonic clock, ms from any origin (default performance.now). */
  mono?: () => number;
  /** Warn when the wall clock is this far from ours (default 60,000 ms). */
  driftWarnMs?: number;
  /** Called when the wall clock has drifted (by driftWarnMs more since the last call). */
  onDrift?: (driftMs: number) => void;
}

/** A clock whose `now()` is never fooled by the wall clock jumping, and that says when it drifts. */
export interface MonotonicClock extends Clock {
  onDrift(fn: (driftMs: number) => void): void;
}

/**
 * The wall time at start plus the monotonic time elapsed since: a jump of the wall clock during a
 * run (an hour back, an NTP step) moves neither the durations that decide spending (idle time,
 * spawning time, lifetime) nor event times. When the wall clock drifts more than a minute from it,
 * onDrift is told (once per further minute of drift), so the operator knows event times and the
 * wall clock disagree; a restart takes the wall clock again.
 */
export function monotonicClock(opts: MonotonicClockOptions = {}): MonotonicClock {
  const wall = opts.wall ?? Date.now;
  const mono = opts.mono ?? (() => performance.now());
  const warnMs = opts.driftWarnMs ?? 60_000;
  const wall0 = wall();
  const mono0 = mono();
  let warned = 0;
  let onDrift = opts.onDrift ?? (() => {});
  return {
    now() {
      const t = wall0 + (mono() - mono0);
      const drift = wall() - t;
      if (Math.abs(drift) >= warnMs && Math.abs(drift - warned) >= warnMs) {
        warned = drift;
        onDrift(drift);
      } else if (Math.abs(drift) < warnMs) warned = 0;
      return new Date(Math.round(t));
    },
    sleep: sleepReal,
    onDrift(fn) {
      onDrift = fn;
    },
  };
}

/** The live service's clock (monotonic: see monotonicClock). */
export const systemClock: MonotonicClock = monotonicClock();

/** A clock that only moves when told to; sleepers wake when the time passes their deadline. */
export class FakeClock implements Clock {
  private t: number;
  private sleepers: { until: number; resolve: () => void }[] = [];

  constructor(start: Date | string = '2026-01-01T00:00:00.000Z') {
    this.t = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.t);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const entry = { until: this.t + ms, resolve };
      this.sleepers.push(entry);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== entry);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** Moves time forward, waking every sleeper whose deadline has come. */
  advance(ms: number): void {
    this.t += ms;
    const due = this.sleepers.filter((s) => s.until <= this.t);
    this.sleepers = this.sleepers.filter((s) => s.until > this.t);
    for (const s of due) s.resolve();
  }

  set(to: Date | string): void {
    this.advance(new Date(to).getTime() - this.t);
  }
}

/** A seeded pseudo-random generator (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
