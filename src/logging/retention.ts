import type { Sql } from '../store/db';

/** Rows deleted per statement: short statements, so pruning never holds locks for long. */
const PRUNE_BATCH = 1000;

/**
 * Deletes system_logs rows created before `cutoff`, PRUNE_BATCH rows per statement (oldest first,
 * by the created_at index), until none is left or `signal` aborts. Events are the record and are
 * never pruned; this is only the log table. Returns the number of rows deleted.
 */
export async function pruneSystemLogs(
  db: Sql,
  cutoff: Date,
  opts: { batch?: number; signal?: AbortSignal } = {},
): Promise<number> {
  const batch = opts.batch ?? PRUNE_BATCH;
  let total = 0;
  for (;;) {
    if (opts.signal?.aborted) return total;
    const rows = await db.query<{ n: number }>(
      `with gone as (
         delete from system_logs where id in (
           select id from system_logs where created_at < $1::timestamptz order by created_at limit $2)
         returning 1)
       select count(*)::int as n from gone`,
      [cutoff.toISOString(), batch],
    );
    const n = rows[0]?.n ?? 0;
    total += n;
    if (n < batch) return total;
    // let the cycle's own statements go first between batches
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface SystemLogsPrunerOptions {
  db: Sql;
  /** SYSTEM_LOGS_RETENTION_DAYS */
  retentionDays: number;
  now: () => Date;
  /** How often to prune (default hourly); the first run is shortly after start. */
  everyMs?: number;
  firstAfterMs?: number;
  onPruned?: (rows: number) => void;
  onError?: (err: unknown) => void;
}

/**
 * Prunes system_logs in the background, off the cycle's path: on a timer of its own, never awaited
 * by a cycle. stop() ends it and waits for a run in progress (which stops between batches).
 */
export class SystemLogsPruner {
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();

  constructor(private readonly o: SystemLogsPrunerOptions) {}

  start(): void {
    this.schedule(this.o.firstAfterMs ?? 60_000);
  }

  /** One pass now (also what the timer runs). */
  runOnce(): Promise<void> {
    this.running = this.running.then(async () => {
      if (this.abort.signal.aborted) return;
      try {
        const cutoff = new Date(this.o.now().getTime() - this.o.retentionDays * 86_400_000);
        const n = await pruneSystemLogs(this.o.db, cutoff, { signal: this.abort.signal });
        if (n > 0) this.o.onPruned?.(n);
      } catch (err) {
        this.o.onError?.(err);
      }
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.abort.signal.aborted) return;
    this.timer = setTimeout(() => {
      void this.runOnce().then(() => this.schedule(this.o.everyMs ?? 3_600_000));
    }, ms);
    this.timer.unref();
  }
}
