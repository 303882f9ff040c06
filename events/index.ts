import { AnomalyDetected } from './anomaly';
import { HealthChecked, HealthSummaryRecorded } from './health';
import { EventRegistry } from './registry';
import { ScalingDecided } from './scaling';
import { TaskCountObserved, TaskCountRejected } from './task-count';
import {
  OrphanPodTerminated,
  WorkerActivated,
  WorkerSpawned,
  WorkerSpawnFailed,
  WorkerSpawnRequested,
  WorkerTerminated,
  WorkerTerminationRequested,
} from './worker';

export * from './anomaly';
export * from './health';
export * from './scaling';
export * from './task-count';
export * from './worker';

export const ALL_EVENTS = [
  TaskCountObserved,
  TaskCountRejected,
  ScalingDecided,
  AnomalyDetected,
  WorkerSpawnRequested,
  WorkerSpawned,
  WorkerSpawnFailed,
  WorkerActivated,
  WorkerTerminationRequested,
  WorkerTerminated,
  OrphanPodTerminated,
  HealthChecked,
  HealthSummaryRecorded,
] as const;

/** Every event type gpu-scaler writes; the store validates against these. */
export const appRegistry = new EventRegistry(ALL_EVENTS);

/** Stream names. */
export const Streams = {
  controller: 'controller',
  health: 'health',
  reconciliation: 'reconciliation',
  worker: (workerId: string) => `worker-${workerId}`,
} as const;
