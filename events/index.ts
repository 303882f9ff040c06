import { AnomalyDetected } from './anomaly';
import { ConditionChanged } from './condition';
import type { EventOf, NewEventOf } from './define';
import { HealthChecked, HealthSummaryRecorded } from './health';
import { ConfigReloaded, ConfigReloadRefused, OperatorCommandIssued, OperatorOverrideEnded } from './operator';
import { WorkerParked, WorkerUnparked, WorkerUnparkRefused } from './parking';
import { EventQuarantined } from './quarantine';
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

/** Stream names. */
export const Streams = {
  controller: 'controller',
  health: 'health',
  reconciliation: 'reconciliation',
  quarantine: 'quarantine',
  operator: 'operator',
  config: 'config',
  /** What decisions made in shadow would have done, and the fleet as listed then. */
  shadow: 'shadow',
  /** The provider's pods as listed each cycle run in shadow (whoever manages them). */
  shadowFleet: 'shadow-fleet',
  worker: (workerId: string) => `worker-${workerId}`,
} as const;

/**
 * A type guard for one event type: `events.filter(isEvent('ScalingDecided'))` keeps those events,
 * and their `data` is typed (works on stored, projected and new events alike).
 */
export function isEvent<T extends AppEventType>(type: T) {
  return <E extends { type: string }>(e: E): e is Extract<E, { type: T }> => e.type === type;
}
