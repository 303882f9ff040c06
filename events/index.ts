import { AnomalyDetected } from './anomaly';
import { DEFAULT_POOL } from './common';
import { ConditionChanged } from './condition';
import type { EventOf, NewEventOf } from './define';
import { HealthChecked, HealthSummaryRecorded } from './health';
import {
  CONFIG_STREAM,
  ConfigReloaded,
  ConfigReloadRefused,
  OPERATOR_STREAM,
  OperatorCommandIssued,
  OperatorOverrideEnded,
} from './operator';
import { WorkerParked, WorkerUnparked, WorkerUnparkRefused } from './parking';
import { EventQuarantined, QUARANTINE_STREAM } from './quarantine';
import { EventRegistry } from './registry';
import { ScalingDecided } from './scaling';
import { ActionIntended, FleetObserved, WorkerAdopted } from './shadow';
import { TaskCountObserved, TaskCountRejected } from './task-count';
import {
  OrphanPodTerminated,
  WorkerActivated,
  WorkerSpawned,
  WorkerSpawnFailed,
  WorkerSpawnRequested,
  WorkerSpawnUnclear,
  WorkerTerminated,
  WorkerTerminationRequested,
} from './worker';

export * from './anomaly';
export { DEFAULT_POOL, POOL_NAME_ALLOWED, POOL_NAME_PATTERN, PoolName } from './common';
export * from './condition';
export * from './health';
export * from './operator';
export * from './parking';
export * from './quarantine';
export * from './scaling';
export * from './shadow';
export * from './task-count';
export * from './worker';

/** Every event type gpu-scaler writes; the store validates against these. */
export const appRegistry = EventRegistry.empty()
  .with(TaskCountObserved)
  .with(TaskCountRejected)
  .with(ScalingDecided)
  .with(AnomalyDetected)
  .with(ConditionChanged)
  .with(WorkerSpawnRequested)
  .with(WorkerSpawned)
  .with(WorkerSpawnFailed)
  .with(WorkerSpawnUnclear)
  .with(WorkerActivated)
  .with(WorkerTerminationRequested)
  .with(WorkerTerminated)
  .with(OrphanPodTerminated)
  .with(WorkerParked)
  .with(WorkerUnparked)
  .with(WorkerUnparkRefused)
  .with(HealthChecked)
  .with(HealthSummaryRecorded)
  .with(EventQuarantined)
  .with(OperatorCommandIssued)
  .with(OperatorOverrideEnded)
  .with(ConfigReloaded)
  .with(ConfigReloadRefused)
  .with(ActionIntended)
  .with(FleetObserved)
  .with(WorkerAdopted);

/** The union of every event definition in appRegistry. */
export type AppEventDefinition = typeof appRegistry extends EventRegistry<infer D> ? D : never;
/** Every event gpu-scaler reads back, as one discriminated union on `type`: `{ type, data }`. */
export type AppEvent = EventOf<AppEventDefinition>;
/** Every event gpu-scaler may append (`data` as its schema takes it: defaulted fields optional). */
export type AppNewEvent = NewEventOf<AppEventDefinition>;
/** The name of every event type. */
export type AppEventType = AppEvent['type'];
/** The data of one event type, as read. */
export type DataOf<T extends AppEventType> = Extract<AppEvent, { type: T }>['data'];
/** The data of one event type, as appended. */
export type NewDataOf<T extends AppEventType> = Extract<AppNewEvent, { type: T }>['data'];

/**
 * A pool's stream of one kind: pool `default` keeps the name streams had before pools (`controller`),
 * another pool's is `<kind>@<pool>` (`controller@video`). `@` is in no pool name and no kind, so a
 * stream name reads back to one kind and one pool (poolOfStream).
 */
const poolStream =
  (kind: string) =>
  (pool: string): string =>
    pool === DEFAULT_POOL ? kind : `${kind}${POOL_STREAM_SEPARATOR}${pool}`;

/** What separates a stream's kind from its pool in a pool's stream name (`controller@video`). */
export const POOL_STREAM_SEPARATOR = '@';

/**
 * Stream names. Each pool has its own controller, health, reconciliation and shadow streams (a
 * function of the pool). A worker's stream is named by its id alone (ids are unique across pools; its
 * events carry the pool). Operator commands have one stream (a command names its pool, or `*`), and so
 * do quarantine records and configuration reloads (the process's).
 */
export const Streams = {
  controller: poolStream('controller'),
  health: poolStream('health'),
  reconciliation: poolStream('reconciliation'),
  quarantine: QUARANTINE_STREAM,
  operator: OPERATOR_STREAM,
  config: CONFIG_STREAM,
  /** What decisions made in shadow would have done, and the fleet as listed then. */
  shadow: poolStream('shadow'),
  /** The provider's pods as listed each cycle run in shadow (whoever manages them). */
  shadowFleet: poolStream('shadow-fleet'),
  worker: (workerId: string) => `worker-${workerId}`,
} as const;

/**
 * The pool a stream belongs to, by its name: `controller@video` is pool video's; a name without `@`
 * (`controller`, `worker-…`, `operator`) is pool default's or no pool's, read as `default`.
 */
export function poolOfStream(streamId: string): string {
  const at = streamId.lastIndexOf(POOL_STREAM_SEPARATOR);
  return at < 0 ? DEFAULT_POOL : streamId.slice(at + 1);
}

/**
 * A type guard for one event type: `events.filter(isEvent('ScalingDecided'))` keeps those events,
 * and their `data` is typed (works on stored, projected and new events alike).
 */
export function isEvent<T extends AppEventType>(type: T) {
  return <E extends { type: string }>(e: E): e is Extract<E, { type: T }> => e.type === type;
}

/**
 * Events of one pool: each one's data names `pool` (every event type carries the field). Whoever
 * writes for a pool (its controller, its reactor) passes what it appends through this, so no event
 * of another pool reads as pool default's.
 */
export function inPool<E extends { data: object }>(pool: string, events: readonly E[]): E[] {
  return events.map((e) => ({ ...e, data: { ...e.data, pool } }));
}
