import type { EventDefinition, EventOf, EventShape } from '../../events/define';
import { type AppEvent, Streams } from '../../events/index';
import type { WorkerRow, WorkerStatus } from '../../projections/workers';
import { workerRowsByStatusOrId, workerStatuses } from '../projections/worker-queries';
import { loadCheckpoint } from './checkpoints';
import type { Checkpoint, EventStore, StoredEvent } from './event-store';
import {
  anomalyKindsSinceLastSummary,
  lastConditionChanges,
  latestWants,
  lockBudget,
  type ObservationRow,
  observationsBetween,
  readCommittedAfter,
  type SpawnOutcomeRow,
  spawnOutcomesBetween,
  type WantRow,
} from './queries';

export type { ObservationRow, SpawnOutcomeRow, WantRow } from './queries';

/**
 * What the control loop and the reactor read of the record, as typed functions: each store brings
 * its own (`EventStore.reads`), one SQL implementation (this file, on the queries of queries.ts and
 * worker-queries.ts) and one in memory (reads-memory.ts, for `simulate`), both held to the same
 * contract (test/store/reads-contract.ts). So a query can change without breaking `simulate`.
 *
 * Times are ISO 8601; windows are [since, until) on each event's time (eventTime).
 */
export interface ControlReads<E extends EventShape = AppEvent> {
  /** A subscriber's checkpoint (START when it has none). */
  checkpoint(name: string): Promise<Checkpoint>;
  /**
   * Every event of streams starting with `streamPrefix` committed after `after`, in position order,
   * not held back for older open transactions (see readCommittedAfter).
   */
  committedAfter(after: Checkpoint, streamPrefix: string): Promise<StoredEvent<E>[]>;
  /**
   * The workers table's rows of workers in one of `statuses`, and of the workers `ids` whatever their
   * status; with `pool`, only that pool's workers (without: every pool's).
   */
  workersByStatusOrId(statuses: readonly WorkerStatus[], ids: readonly string[], pool?: string): Promise<WorkerRow[]>;
  /** The status of each of the workers `ids` the workers table has a row for (with `pool`: that pool's only). */
  workerStatuses(ids: readonly string[], pool?: string): Promise<Map<string, WorkerStatus>>;
  /**
   * The history reads below are of one pool (`pool`, default: pool default, whose events before
   * pools carry no pool): each pool's controller reads its own.
   */
  /** The pool's accepted task counts (TaskCountObserved) in the window, oldest first: a policy's history. */
  observationsBetween(since: string, until: string, pool?: string): Promise<ObservationRow[]>;
  /** The pool's spawns and failed spawns in the window, in position order: what its spawn guard counts. */
  spawnOutcomesBetween(since: string, until: string, pool?: string): Promise<SpawnOutcomeRow[]>;
  /** The pool's anomalies recorded since its last health summary (all of them when there is none), by kind. */
  anomalyKindsSinceLastSummary(pool?: string): Promise<Record<string, number>>;
  /** The pool's last ConditionChanged of each condition type in `types`, in position order. */
  lastConditionChanges(types: readonly string[], pool?: string): Promise<StoredEvent<E>[]>;
  /** What each of `pools` last wanted of the global budget, and when (pools that decided nothing yet are left out). */
  latestWants(pools: readonly string[]): Promise<WantRow[]>;
  /**
   * In a transaction (`store.transaction`): holds the budget's lock until it ends, so a check of the
   * global caps and the spawn it lets through are one step across pools and replicas. The in-memory
   * store runs one transaction at a time: there, the transaction is the lock.
   */
  lockBudget(): Promise<void>;
}

/** The reads of a SQL store (PostgreSQL or PGlite), on the executor it runs on (the pool, or its transaction). */
export class SqlReads<D extends EventDefinition> implements ControlReads<EventOf<D>> {
  constructor(private readonly store: EventStore<D>) {}

  checkpoint(name: string): Promise<Checkpoint> {
    return loadCheckpoint(this.store.sql, name);
  }

  committedAfter(after: Checkpoint, streamPrefix: string): Promise<StoredEvent<EventOf<D>>[]> {
    return readCommittedAfter(this.store, after, streamPrefix);
  }

  workersByStatusOrId(statuses: readonly WorkerStatus[], ids: readonly string[], pool?: string): Promise<WorkerRow[]> {
    return workerRowsByStatusOrId(this.store.sql, statuses, ids, pool);
  }

  workerStatuses(ids: readonly string[], pool?: string): Promise<Map<string, WorkerStatus>> {
    return workerStatuses(this.store.sql, ids, pool);
  }

  observationsBetween(since: string, until: string, pool?: string): Promise<ObservationRow[]> {
    return observationsBetween(this.store.sql, since, until, pool);
  }

  spawnOutcomesBetween(since: string, until: string, pool?: string): Promise<SpawnOutcomeRow[]> {
    return spawnOutcomesBetween(this.store.sql, since, until, pool);
  }

  anomalyKindsSinceLastSummary(pool?: string): Promise<Record<string, number>> {
    return anomalyKindsSinceLastSummary(this.store.sql, pool);
  }

  lastConditionChanges(types: readonly string[], pool?: string): Promise<StoredEvent<EventOf<D>>[]> {
    return lastConditionChanges(this.store, types, pool);
  }

  latestWants(pools: readonly string[]): Promise<WantRow[]> {
    return latestWants(this.store.sql, pools, pools.map(Streams.controller));
  }

  lockBudget(): Promise<void> {
    return lockBudget(this.store.sql);
  }
}
