import { type DataOf, DEFAULT_POOL, type PoolName, Streams } from '../../events/index';
import type { FleetWorker } from '../control/policy';
import type { EventStore } from '../store/event-store';

type Intended = DataOf<'ActionIntended'>;

/** The would-be fleet: the workers intended spawns made and intended terminations have not ended, by id. */
export type WouldBeFleet = ReadonlyMap<string, FleetWorker>;

/**
 * The would-be fleet after one intended action, pure. A would-be worker counts as up from the moment
 * it is intended (its start-up cannot be observed: no pod was made), so its idle time runs from then.
 */
export function evolveWouldBe(fleet: WouldBeFleet, a: Intended): WouldBeFleet {
  const next = new Map(fleet);
  if (a.action === 'spawn')
    next.set(a.workerId, {
      workerId: a.workerId,
      podId: null,
      status: 'active',
      requestedAt: a.at,
      activeAt: a.at,
      gpus: a.gpus,
      hourlyCostUsd: a.hourlyCostUsd,
    });
  else next.delete(a.workerId);
  return next;
}

/** The would-be fleet of a run of intended actions, in order. */
export const wouldBeFleet = (actions: readonly Intended[]): WouldBeFleet =>
  actions.reduce<WouldBeFleet>(evolveWouldBe, new Map());

/**
 * The would-be fleet a controller in shadow decides from, kept up to date from the shadow stream:
 * each read folds only the intended actions recorded since the last one.
 */
export class ShadowFleet {
  private version = 0;
  private fleet: WouldBeFleet = new Map();

  /** `pool`: whose shadow stream (default: pool default's). */
  constructor(private readonly pool: PoolName = DEFAULT_POOL) {}

  async read(store: EventStore): Promise<FleetWorker[]> {
    const events = await store.readStream(Streams.shadow(this.pool), { fromVersion: this.version + 1 });
    for (const e of events) {
      this.version = e.streamVersion;
      if (e.type === 'ActionIntended') this.fleet = evolveWouldBe(this.fleet, e.data);
    }
    return [...this.fleet.values()].sort(
      (a, b) => a.requestedAt.localeCompare(b.requestedAt) || a.workerId.localeCompare(b.workerId),
    );
  }
}
