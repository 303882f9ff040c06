import EventEmitter from 'eventemitter3';
import type { EventDefinition, EventOf } from '../../events/define';
import type { AppEventDefinition } from '../../events/index';
import { GpuScalerError } from '../errors';
import { advanceCheckpoint, loadCheckpoint, reached } from './checkpoints';
import type { Sql } from './db';
import type { Checkpoint, EventStore, StoredEvent } from './event-store';

export interface SubscriptionOptions<D extends EventDefinition = AppEventDefinition> {
  /** The checkpoint's name in projection_checkpoints. */
  name: string;
  /**
   * Handles one batch. With `transactional` (the default) it runs in the same transaction as the
   * checkpoint update, so its writes and the checkpoint commit together (exactly once). Without,
   * the checkpoint moves after it returns (at least once: the handler must be idempotent).
   */
  handle: (events: StoredEvent<EventOf<D>>[], ctx: { tx: Sql; store: EventStore<D> }) => Promise<void>;
  transactional?: boolean;
  batchSize?: number;
  /**
   * Only these event types are read (the server skips the rest); the checkpoint still moves past
   * the others. Default: every event.
   */
  eventTypes?: readonly string[];
  /** Only events of these streams are read, as eventTypes (default: every stream). */
  streams?: readonly string[];
  /** Poll even without a notification this often (ms): notifications are hints, not proof. */
  pollIntervalMs?: number;
  /** Backoff after an error: doubles from this up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class CheckpointConflictError extends GpuScalerError {
  constructor(name: string) {
    super('CHECKPOINT_CONFLICT', `checkpoint "${name}" was moved by another process; reloading it`);
    this.name = 'CheckpointConflictError';
  }
}

/**
 * A checkpointed catch-up subscription: reads from its stored checkpoint until caught up, then
 * waits for a wake-up (local append, NOTIFY, or the poll timer) and reads again. After an error
 * (a lost connection, say) it backs off and resumes from the stored checkpoint, so nothing is
 * skipped and, for transactional handlers, nothing is applied twice.
 */
export class Subscription<D extends EventDefinition = AppEventDefinition> extends EventEmitter<{
  error: [err: unknown];
  batch: [count: number, checkpoint: Checkpoint];
  caughtUp: [checkpoint: Checkpoint];
}> {
  private checkpoint?: Checkpoint;
  private running?: Promise<void>;
  private stopped = true;
  private dirty = true;
  private wakeUp?: () => void;
  private readonly onWake = () => {
    this.dirty = true;
    this.wakeUp?.();
  };

  constructor(
    private readonly store: EventStore<D>,
    private readonly opts: SubscriptionOptions<D>,
  ) {
    super();
  }

  get position(): Checkpoint | undefined {
    return this.checkpoint;
  }

  /** Processes one batch; returns how many events it handled (0 when caught up). */
  async step(): Promise<number> {
    const name = this.opts.name;
    if (!this.checkpoint) this.checkpoint = await loadCheckpoint(this.store.db, name);
    const from = this.checkpoint;
    const batch = await this.store.readBatch(from, this.opts.batchSize ?? 500, this.opts.eventTypes, this.opts.streams);
    if (batch.events.length === 0) {
      if (!reached(from, batch.checkpoint.txId, batch.checkpoint.position)) await this.skipTo(from, batch.checkpoint);
      return 0;
    }
    try {
      if (this.opts.transactional === false) {
        await this.opts.handle(batch.events, { tx: this.store.db, store: this.store });
        await this.store.db.transaction(async (tx) => {
          if (!(await advanceCheckpoint(tx, name, from, batch.checkpoint))) throw new CheckpointConflictError(name);
        });
      } else {
        await this.store.transaction(async (txStore) => {
          const tx = txStore.sql;
          if (!(await advanceCheckpoint(tx, name, from, batch.checkpoint))) throw new CheckpointConflictError(name);
          await this.opts.handle(batch.events, { tx, store: txStore });
        });
      }
    } catch (err) {
      this.checkpoint = undefined; // reload from the database on the next step
      throw err;
    }
    this.checkpoint = batch.checkpoint;
    this.emit('batch', batch.events.length, batch.checkpoint);
    return batch.events.length;
  }

  /** Moves the checkpoint past events of other types (nothing to handle). */
  private async skipTo(from: Checkpoint, to: Checkpoint): Promise<void> {
    const name = this.opts.name;
    try {
      await this.store.db.transaction(async (tx) => {
        if (!(await advanceCheckpoint(tx, name, from, to))) throw new CheckpointConflictError(name);
      });
    } catch (err) {
      this.checkpoint = undefined;
      throw err;
    }
    this.checkpoint = to;
  }

  /** Processes batches until caught up; returns the number of events handled. */
  async catchUp(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.step();
      if (n === 0) break;
      total += n;
    }
    if (this.checkpoint) this.emit('caughtUp', this.checkpoint);
    return total;
  }

  /** Runs in the background until stop(). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.store.signals.on('wake', this.onWake);
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.store.signals.off('wake', this.onWake);
    this.wakeUp?.();
    await this.running;
  }

  private async loop(): Promise<void> {
    const poll = this.opts.pollIntervalMs ?? 1000;
    const minBackoff = this.opts.minBackoffMs ?? 100;
    const maxBackoff = this.opts.maxBackoffMs ?? 5000;
    let backoff = minBackoff;
    while (!this.stopped) {
      try {
        this.dirty = false;
        await this.catchUp();
        backoff = minBackoff;
        await this.sleep(poll, true);
      } catch (err) {
        // Another process (a replay swap, a second runner) moved the checkpoint: the next step
        // reloads it. That is how it should work, not an error to report or back off from.
        if (err instanceof CheckpointConflictError) continue;
        this.emit('error', err);
        await this.sleep(backoff, false);
        backoff = Math.min(maxBackoff, backoff * 2);
      }
    }
  }

  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.stopped || (wakeable && this.dirty)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        if (wakeable || this.stopped) done();
      };
    });
  }
}
