import { inPool, type PoolName, Streams } from '../../events/index';
import { hasCode } from '../errors';
import type { AppendResult, EventStore, NewEvent } from '../store/event-store';
import type { ControlLog } from './log';

/**
 * The controller stream, written by one controller at a time: every append is fenced by the
 * version this controller last wrote, so a second controller's cycle is found out, not interleaved.
 */
export class ControlStream {
  version = 0;

  constructor(
    private readonly store: EventStore,
    private readonly log: ControlLog,
    /** The pool whose controller stream this is: every event appended names it. */
    private readonly pool: PoolName,
    /** Called after another writer was found: the controller restores its state from the stream. */
    private readonly onConflict: () => Promise<void>,
  ) {}

  /** Appends one cycle's events; null when another writer got there (logged, and onConflict run). */
  async append(events: NewEvent[], cycle: number): Promise<AppendResult | null> {
    try {
      const res = await this.store.append(Streams.controller(this.pool), inPool(this.pool, events), {
        expectedVersion: this.version,
      });
      this.version = res.nextExpectedVersion;
      return res;
    } catch (err) {
      if (!hasCode(err, 'CONCURRENCY')) throw err;
      this.log.log(
        'crit',
        `❌ Another controller wrote to the controller stream (expected version ${this.version}, found ${err.actual}): this cycle is not recorded. Run one controller per store.`,
        { cycle },
      );
      await this.onConflict();
      return null;
    }
  }
}
