import EventEmitter from 'eventemitter3';
import type { Projection } from '../../projections/projection';
import { hasCode } from '../errors';
import { type Checkpoint, type EventStore, START } from '../store/event-store';
import { Subscription } from '../store/subscription';
import { applyToTable } from './writer';

/**
 * A catch-up gives up after this many conflicts in a row on one checkpoint (each a batch applied by
 * another process): far more than replicas catching up side by side cause (one retry was not enough
 * for two replicas of 12 pools: bench/replicas.ts, docs/replicas.md).
 */
export const MAX_CONFLICTS_IN_A_ROW = 50;

export const checkpointName = (p: Projection) => `projection:${p.name}`;

/**
 * Keeps the projection tables up to date: one checkpointed, transactional subscription per
 * projection (rows and checkpoint commit together). `catchUp()` is serialised with the background
 * loop, so the controller can bring the tables up to date before it reads them.
 */
export class ProjectionRunner extends EventEmitter<{ error: [err: unknown, projection: string] }> {
  private readonly subs: Subscription[];
  private chain: Promise<unknown> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private stopped = true;
  private readonly onWake = () => this.schedule();

  constructor(
    private readonly store: EventStore,
    readonly projections: readonly Projection[],
    private readonly pollIntervalMs = 1000,
  ) {
    super();
    this.subs = projections.map(
      (p) =>
        new Subscription(store, {
          name: checkpointName(p),
          batchSize: 1000,
          handle: async (events, { tx }) => {
            await applyToTable(tx, p, events);
          },
        }),
    );
  }

  /** Brings every projection up to date with what is committed now. */
  catchUp(): Promise<number> {
    const run = this.chain.then(async () => {
      let n = 0;
      for (const s of this.subs) {
        // Moved by another process (a replay swap, another replica's runner): continue from the
        // stored checkpoint. Each conflict means the other process applied a batch, so this ends
        // once it is caught up; replicas catching up side by side can move it several times in a row.
        for (let conflicts = 0; ; conflicts++) {
          try {
            n += await s.catchUp();
            break;
          } catch (err) {
            if (!hasCode(err, 'CHECKPOINT_CONFLICT') || conflicts >= MAX_CONFLICTS_IN_A_ROW) throw err;
          }
        }
      }
      return n;
    });
    this.chain = run.catch(() => {});
    return run;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.store.signals.on('wake', this.onWake);
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.store.signals.off('wake', this.onWake);
    if (this.timer) clearTimeout(this.timer);
    await this.chain;
  }

  private schedule(delay = 0): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.catchUp().then(
        () => this.schedule(this.pollIntervalMs),
        (err) => {
          if (hasCode(err, 'CHECKPOINT_CONFLICT')) return this.schedule(0); // reloads next time
          this.emit('error', err, 'projections');
          this.schedule(Math.min(5000, this.pollIntervalMs * 2));
        },
      );
    }, delay);
  }
}

/**
 * How many committed events the slowest of these projections has not applied yet (0 when up to
 * date, or when it cannot be read). That is the count after the smallest of their checkpoints:
 * one index range scan of events_tx_order_idx, short when the projections are nearly up to date.
 */
export async function projectionLag(store: EventStore, projections: readonly Projection[]): Promise<number> {
  const names = projections.map(checkpointName);
  try {
    const rows = await store.db.query<{ name: string; tx_id: string; global_position: number }>(
      'select name, tx_id::text as tx_id, global_position from projection_checkpoints where name = any($1::text[])',
      [names],
    );
    let slowest: Checkpoint =
      rows.length < names.length ? START : { txId: rows[0].tx_id, position: Number(rows[0].global_position) };
    for (const r of rows) {
      const cp = { txId: r.tx_id, position: Number(r.global_position) };
      const [a, b] = [BigInt(cp.txId), BigInt(slowest.txId)];
      if (a < b || (a === b && cp.position < slowest.position)) slowest = cp;
    }
    const [row] = await store.db.query<{ behind: number }>(
      `select count(*)::bigint as behind from events
        where ((tx_id::text)::bigint, global_position) > ($1::bigint, $2::bigint)`,
      [slowest.txId, slowest.position],
    );
    return Number(row?.behind ?? 0);
  } catch {
    return 0;
  }
}
