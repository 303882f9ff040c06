import { type AppEvent, DEFAULT_POOL } from '../events/index';
import { placementFacts } from '../src/reactor/placement';
import type { ProjectedEvent, Projection } from './projection';
import { foldParking, PARKING_EVENT_TYPES } from './workers-parking';

/** parked: its pod stopped and kept (events/parking.ts); it takes no tasks and counts toward no cap. */
export type WorkerStatus = 'spawning' | 'active' | 'terminating' | 'terminated' | 'failed' | 'parked';

export interface WorkerRow {
  [k: string]: string | number | boolean | null;
  worker_id: string;
  /** The pool the worker belongs to (its events' pool; migrations/0020_pool_columns.sql). */
  pool: string;
  pod_id: string | null;
  status: WorkerStatus;
  provider: string | null;
  cycle: number | null;
  decision_event_id: string | null;
  ordinal: number | null;
  of_total: number | null;
  requested_at: string | null;
  spawned_at: string | null;
  active_at: string | null;
  termination_requested_at: string | null;
  terminated_at: string | null;
  termination_reason: string | null;
  termination_detail: string | null;
  failure: string | null;
  /** GPUs the worker takes: the pod's count once spawned, else what was asked; null when not recorded. */
  gpu_count: number | null;
  /** USD per hour the pod was placed at; null when unknown. */
  hourly_cost_usd: number | null;
  /** Where the provider placed the pod (migrations/0016_worker_placement.sql); null when not recorded. */
  gpu_type: string | null;
  data_center: string | null;
  node: string | null;
  /** Parking (0017, workers-parking.ts): when last parked, times started again, the decision slot of the last start. */
  parked_at: string | null;
  unparks: number;
  unpark_slot: string | null;
  parked_hourly_usd: number | null;
  last_position: number;
}

const EMPTY = (workerId: string, pool = DEFAULT_POOL): WorkerRow => ({
  worker_id: workerId,
  pod_id: null,
  status: 'spawning',
  provider: null,
  cycle: null,
  decision_event_id: null,
  ordinal: null,
  of_total: null,
  requested_at: null,
  spawned_at: null,
  active_at: null,
  termination_requested_at: null,
  terminated_at: null,
  termination_reason: null,
  termination_detail: null,
  failure: null,
  gpu_count: null,
  hourly_cost_usd: null,
  gpu_type: null,
  data_center: null,
  node: null,
  parked_at: null,
  unparks: 0,
  unpark_slot: null,
  parked_hourly_usd: null,
  last_position: 0,
  pool,
});

const FINAL: WorkerStatus[] = ['terminated', 'failed'];

/** The events of a worker's lifecycle (OrphanPodTerminated is about a pod no worker owns). */
export const WORKER_EVENT_TYPES = [
  'WorkerSpawnRequested',
  'WorkerSpawned',
  'WorkerSpawnFailed',
  'WorkerActivated',
  'WorkerTerminationRequested',
  'WorkerTerminated',
  'WorkerAdopted',
  ...PARKING_EVENT_TYPES,
] as const;
const workerTypes = new Set<string>(WORKER_EVENT_TYPES);

/** An event of a worker's lifecycle: each has the worker's id. */
export type WorkerEvent = Extract<AppEvent, { type: (typeof WORKER_EVENT_TYPES)[number] }>;

function isWorkerEvent(e: ProjectedEvent): e is ProjectedEvent<WorkerEvent> {
  return workerTypes.has(e.type);
}

/** One row per worker: its lifecycle from spawn request to termination. */
export const workersProjection: Projection<WorkerRow> = {
  name: 'workers',
  table: 'workers',
  key: 'worker_id',
  columns: Object.keys(EMPTY('')) as (keyof WorkerRow & string)[],
  eventTypes: WORKER_EVENT_TYPES,
  keyOf(e: ProjectedEvent) {
    return isWorkerEvent(e) ? e.data.workerId : null;
  },
  evolve(row, e) {
    if (!isWorkerEvent(e)) return row;
    // A new object each time (the fold is pure), filled in place: one copy per event, not two.
    const r: WorkerRow = row ? { ...row } : EMPTY(e.data.workerId, e.data.pool);
    r.last_position = e.globalPosition;
    switch (e.type) {
      case 'WorkerSpawnRequested':
        r.provider = e.data.provider;
        r.cycle = e.data.cycle;
        r.decision_event_id = e.data.decisionEventId;
        r.ordinal = e.data.ordinal;
        r.of_total = e.data.of;
        r.requested_at = e.data.at;
        r.gpu_count = e.data.gpus ?? r.gpu_count;
        return r;
      case 'WorkerAdopted':
        // a pod another orchestrator made, taken over by `gpu-scaler adopt`
        r.provider = e.data.provider;
        r.pod_id = e.data.podId;
        r.requested_at = e.data.at;
        r.spawned_at = e.data.at;
        r.status = e.data.podStatus === 'running' ? 'active' : 'spawning';
        r.active_at = e.data.podStatus === 'running' ? e.data.at : null;
        r.gpu_count = e.data.gpuCount;
        r.hourly_cost_usd = e.data.hourlyCostUsd;
        return r;
      case 'WorkerSpawned': {
        r.pod_id = e.data.podId;
        r.spawned_at = e.data.at;
        r.gpu_count = e.data.gpuCount ?? r.gpu_count;
        r.hourly_cost_usd = e.data.hourlyCostUsd ?? r.hourly_cost_usd;
        const placed = placementFacts(e.data.details);
        r.gpu_type = placed.gpuType ?? r.gpu_type;
        r.data_center = placed.dataCenter ?? r.data_center;
        r.node = placed.node ?? r.node;
        return r;
      }
      case 'WorkerSpawnFailed':
        r.status = 'failed';
        r.failure = `${e.data.kind}: ${e.data.error}`;
        r.terminated_at = e.data.at;
        return r;
      case 'WorkerActivated':
        r.pod_id = r.pod_id ?? e.data.podId;
        if (FINAL.includes(r.status) || r.status === 'terminating' || r.status === 'parked') return r;
        r.status = 'active';
        r.active_at = e.data.at;
        return r;
      case 'WorkerTerminationRequested':
        if (FINAL.includes(r.status)) return r;
        r.status = 'terminating';
        r.termination_requested_at = e.data.at;
        r.termination_reason = e.data.reason;
        r.termination_detail = e.data.detail;
        return r;
      case 'WorkerTerminated':
        r.failure = e.data.failed ? (r.failure ?? `${e.data.reason}: ${e.data.detail}`) : r.failure;
        r.status = e.data.failed ? 'failed' : 'terminated';
        r.terminated_at = e.data.at;
        r.termination_reason = e.data.reason;
        r.termination_detail = e.data.detail;
        return r;
      case 'WorkerParked':
      case 'WorkerUnparked':
      case 'WorkerUnparkRefused':
        return foldParking(r, e);
    }
  },
};
