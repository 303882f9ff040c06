import type { ProjectedEvent, Projection } from './projection';

export type WorkerStatus = 'spawning' | 'active' | 'terminating' | 'terminated' | 'failed';

export interface WorkerRow {
  [k: string]: string | number | boolean | null;
  worker_id: string;
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
  last_position: number;
}

const EMPTY = (workerId: string): WorkerRow => ({
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
  last_position: 0,
});

const FINAL: WorkerStatus[] = ['terminated', 'failed'];

// biome-ignore lint/suspicious/noExplicitAny: event data is validated by its schema before it gets here
type D = any;

/** The events of a worker's lifecycle (OrphanPodTerminated is about a pod no worker owns). */
export const WORKER_EVENT_TYPES = [
  'WorkerSpawnRequested',
  'WorkerSpawned',
  'WorkerSpawnFailed',
  'WorkerActivated',
  'WorkerTerminationRequested',
  'WorkerTerminated',
] as const;
const workerTypes = new Set<string>(WORKER_EVENT_TYPES);

/** One row per worker: its lifecycle from spawn request to termination. */
export const workersProjection: Projection<WorkerRow> = {
  name: 'workers',
  table: 'workers',
  key: 'worker_id',
  columns: Object.keys(EMPTY('')) as (keyof WorkerRow & string)[],
  eventTypes: WORKER_EVENT_TYPES,
  keyOf(e: ProjectedEvent) {
    return workerTypes.has(e.type) ? ((e.data as D).workerId as string) : null;
  },
  evolve(row, e) {
    const d = e.data as D;
    // A new object each time (the fold is pure), filled in place: one copy per event, not two.
    const r: WorkerRow = row ? { ...row } : EMPTY(d.workerId);
    r.last_position = e.globalPosition;
    switch (e.type) {
      case 'WorkerSpawnRequested':
        r.provider = d.provider;
        r.cycle = d.cycle;
        r.decision_event_id = d.decisionEventId;
        r.ordinal = d.ordinal;
        r.of_total = d.of;
        r.requested_at = d.at;
        r.gpu_count = d.gpus ?? r.gpu_count;
        return r;
      case 'WorkerSpawned':
        r.pod_id = d.podId;
        r.spawned_at = d.at;
        r.gpu_count = d.gpuCount ?? r.gpu_count;
        r.hourly_cost_usd = d.hourlyCostUsd ?? r.hourly_cost_usd;
        return r;
      case 'WorkerSpawnFailed':
        r.status = 'failed';
        r.failure = `${d.kind}: ${d.error}`;
        r.terminated_at = d.at;
        return r;
      case 'WorkerActivated':
        r.pod_id = r.pod_id ?? d.podId;
        if (FINAL.includes(r.status) || r.status === 'terminating') return r;
        r.status = 'active';
        r.active_at = d.at;
        return r;
      case 'WorkerTerminationRequested':
        if (FINAL.includes(r.status)) return r;
        r.status = 'terminating';
        r.termination_requested_at = d.at;
        r.termination_reason = d.reason;
        r.termination_detail = d.detail;
        return r;
      case 'WorkerTerminated':
        r.failure = d.failed ? (r.failure ?? `${d.reason}: ${d.detail}`) : r.failure;
        r.status = d.failed ? 'failed' : 'terminated';
        r.terminated_at = d.at;
        r.termination_reason = d.reason;
        r.termination_detail = d.detail;
        return r;
      default:
        return row;
    }
  },
};
