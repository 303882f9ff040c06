import type { Checkpoint, EventStore, StoredEvent } from '../store/event-store';
import { headCheckpoint } from '../store/queries';

/**
 * A live tail of the store without a stored checkpoint: from the head at its first read on, each
 * new event of `types` is handed to `onEvents` once. For in-memory views (the metrics), which
 * start from zero with the process as Prometheus counters do.
 */
export class EventFeed {
  private checkpoint: Checkpoint | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: EventStore,
    private readonly types: readonly string[],
    private readonly onEvents: (events: StoredEvent[]) => void,
  ) {}

  /** Starts at the head now: what is already in the store is not counted. */
  async startAtHead(): Promise<void> {
    this.checkpoint = await headCheckpoint(this.store.db);
  }

  /** Reads every new event up to what is committed now (serialised: concurrent calls wait). */
  catchUp(): Promise<void> {
    const run = this.chain.then(async () => {
      if (!this.checkpoint) this.checkpoint = await headCheckpoint(this.store.db);
      for (;;) {
        const batch = await this.store.readBatch(this.checkpoint, 1000, this.types);
        this.checkpoint = batch.checkpoint;
        if (batch.events.length) this.onEvents(batch.events);
        if (batch.events.length < 1000) return;
      }
    });
    this.chain = run.catch(() => {});
    return run;
  }
}
