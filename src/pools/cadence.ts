/**
 * The cadence of the pools one process leads: each tick runs their cycles side by side, a priority
 * level at a time (a lower priority decides knowing what every higher one here wants now). A pool
 * whose cycle hangs (a task source or provider that does not answer within its timeout) must not
 * freeze the others: a level is waited for at most one interval (LEVEL_WAIT_MIN_MS at least: a
 * cycle slower than a very short interval is waited for as before), and a pool whose cycle is still
 * running at the next tick is not started again, nor waited for: it goes on alone while the other
 * pools keep their cadence, and each tick it misses is said (`skipped`).
 */
import type { Clock } from '../clock';
import { durationWords } from '../policies/render';

/** The shortest wait for a level, whatever the interval (tests run intervals of 0.05 s). */
export const LEVEL_WAIT_MIN_MS = 5000;

export interface CadenceOptions<P> {
  clock: Clock;
  /** The process's interval (POLL_INTERVAL_SEC), in ms: the longest a level is waited for (LEVEL_WAIT_MIN_MS at least). */
  intervalMs: number;
  /** One cycle of a pool (its failures are its own: this never rejects). */
  run: (pool: P) => Promise<void>;
  /** A pool's cycle is still running at a tick: it misses this one. */
  skipped: (pool: P, runningMs: number) => void;
}

export class PoolCadence<P extends { readonly name: string }> {
  /** Each pool's cycle still running, and when it started (ms on the clock). */
  private readonly inFlight = new Map<string, { run: Promise<void>; since: number }>();

  constructor(private readonly o: CadenceOptions<P>) {}

  /**
   * Starts the cycle of every pool of one level that is not still running its last one, and
   * resolves when they have all ended, or after one interval (LEVEL_WAIT_MIN_MS at least), whichever
   * is first.
   */
  async level(pools: readonly P[]): Promise<void> {
    const { clock } = this.o;
    const started: Promise<void>[] = [];
    for (const p of pools) {
      const busy = this.inFlight.get(p.name);
      if (busy) {
        this.o.skipped(p, clock.now().getTime() - busy.since);
        continue;
      }
      // run() reports its own failures (a cycle's are the pool's); one that still rejects (its log
      // closed under it at a stop) must not become an unhandled rejection of the process
      const run = this.o
        .run(p)
        .catch(() => undefined)
        .finally(() => this.inFlight.delete(p.name));
      this.inFlight.set(p.name, { run, since: clock.now().getTime() });
      started.push(run);
    }
    if (started.length === 0) return;
    const waited = new AbortController();
    await Promise.race([Promise.all(started), clock.sleep(this.waitMs(), waited.signal)]).finally(() => waited.abort());
  }

  /**
   * How long a pool's cycle has run, when it has outlasted two waits of a level (it has missed a tick
   * at least): /readyz says the pool is not ready until it ends. Null: none running that long.
   */
  overdueMs(name: string): number | null {
    const busy = this.inFlight.get(name);
    if (!busy) return null;
    const ms = this.o.clock.now().getTime() - busy.since;
    return ms > 2 * this.waitMs() ? ms : null;
  }

  private waitMs(): number {
    return Math.max(this.o.intervalMs, LEVEL_WAIT_MIN_MS);
  }

  /** The pools whose cycle is still running. */
  running(): string[] {
    return [...this.inFlight.keys()];
  }

  /** Resolves when every cycle still running has ended (a stop waits for them, for a while). */
  async settled(): Promise<void> {
    await Promise.all([...this.inFlight.values()].map((x) => x.run));
  }
}

const runningFor = (cycle: number, runningMs: number) =>
  `cycle #${cycle} still running after ${durationWords(Math.max(1, runningMs / 1000))}`;

/** What a pool says when its cycle outlasts a tick. */
export const stillRunningLine = (cycle: number, runningMs: number): string =>
  `⏳ C${runningFor(cycle, runningMs).slice(1)}: this pool skips this tick (the other pools keep their cadence)`;

/** A pool's readiness while its cycle is overdue (/readyz). */
export const overdueText = (cycle: number, runningMs: number): string =>
  `leading, ${runningFor(cycle, runningMs)} (its task source or provider does not answer): the other pools go on`;
