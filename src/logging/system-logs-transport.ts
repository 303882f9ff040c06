import Transport from 'winston-transport';
import type { Sql } from '../store/db';
import { BoundedQueue } from './bounded-queue';
import { INSERT_SYSTEM_LOGS, type SystemLogRow, toSystemLogRow } from './system-log-row';

export interface SystemLogsTransportOptions extends Transport.TransportStreamOptions {
  db: Sql;
  sourceType: string;
  sourceId: string;
  /** Entries waiting at most (default 10,000); beyond it the oldest is dropped and counted. */
  queueMax?: number;
  /** Rows per INSERT, and the queue length that triggers a write before the timer (default 100). */
  batchSize?: number;
  /** Write whatever is queued this often (default 1000 ms). */
  flushMs?: number;
  /** Told about each batch that failed twice and was dropped. Must not throw. */
  onBatchFailed?: (rows: number, err: unknown) => void;
}

export interface SystemLogsCounters {
  sent: number;
  failed: number;
  dropped: number;
  queueSize: number;
}

interface Queued {
  seq: number;
  row: SystemLogRow;
}

/**
 * Writes log entries to `system_logs` in batches without ever holding up the caller: `log()` only
 * queues (bounded, see BoundedQueue), a timer or a full batch starts a write, a failed batch is
 * retried once and then dropped and counted as failed. Nothing here throws into winston.
 */
export class SystemLogsTransport extends Transport {
  private readonly db: Sql;
  private readonly sourceType: string;
  private readonly sourceId: string;
  private readonly batchSize: number;
  private readonly flushMs: number;
  private readonly onBatchFailed: (rows: number, err: unknown) => void;
  private readonly queue: BoundedQueue<Queued>;
  private seq = 0;
  private sent = 0;
  private failed = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  /** Lowest sequence number of the batch being written, or null. */
  private inFlightFrom: number | null = null;

  constructor(opts: SystemLogsTransportOptions) {
    super(opts);
    this.db = opts.db;
    this.sourceType = opts.sourceType;
    this.sourceId = opts.sourceId;
    this.batchSize = positiveInt(opts.batchSize ?? 100, 'batchSize');
    this.flushMs = positiveInt(opts.flushMs ?? 1000, 'flushMs');
    this.queue = new BoundedQueue(positiveInt(opts.queueMax ?? 10_000, 'queueMax'));
    this.onBatchFailed = opts.onBatchFailed ?? (() => {});
  }

  /** Starts the periodic flush (the timer never keeps the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.queue.length > 0) this.kick();
    }, this.flushMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Called by winston when the logger lets go of this transport. */
  override close(): void {
    this.stop();
  }

  override log(info: Record<string, unknown>, callback: () => void): void {
    setImmediate(() => this.emit('logged', info));
    try {
      this.seq += 1;
      this.dropped += this.queue.push({ seq: this.seq, row: toSystemLogRow(info, this.sourceType, this.sourceId) });
      if (this.queue.length >= this.batchSize) this.kick();
    } catch {
      this.dropped += 1;
    }
    callback();
  }

  counters(): SystemLogsCounters {
    return { sent: this.sent, failed: this.failed, dropped: this.dropped, queueSize: this.queue.length };
  }

  /** Resolves once every entry queued before the call has been written or counted as failed or dropped. */
  async flush(): Promise<void> {
    const upTo = this.seq;
    const pending = () =>
      (this.inFlightFrom !== null && this.inFlightFrom <= upTo) || (this.queue.peek()?.seq ?? Infinity) <= upTo;
    while (pending()) {
      this.kick();
      await this.draining;
    }
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = this.drainQueue()
      .catch(() => {})
      .finally(() => {
        this.draining = null;
      });
  }

  private async drainQueue(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.take(this.batchSize);
      this.inFlightFrom = batch[0].seq;
      try {
        await this.writeBatch(batch.map((q) => q.row));
      } finally {
        this.inFlightFrom = null;
      }
    }
  }

  /** One INSERT; on error one retry; then the rows are dropped and counted as failed. */
  private async writeBatch(rows: SystemLogRow[]): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        await this.db.query(INSERT_SYSTEM_LOGS, [JSON.stringify(rows)]);
        this.sent += rows.length;
        return;
      } catch (err) {
        lastError = err;
      }
    }
    this.failed += rows.length;
    try {
      this.onBatchFailed(rows.length, lastError);
    } catch {
      // reporting a failure must not become one
    }
  }
}

/** Checks a size or interval option: an integer >= 1. */
export function positiveInt(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be an integer >= 1, got ${n}`);
  return n;
}
