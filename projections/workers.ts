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
    const r: WorkerRow = { ...(row ?? EMPTY(d.workerId)), last_position: e.globalPosition };
    switch (e.type) {
      case 'WorkerSpawnRequested':
        return {
          ...r,
          provider: d.provider,
          cycle: d.cycle,
          decision_event_id: d.decisionEventId,
          ordinal: d.ordinal,
          of_total: d.of,
          requested_at: d.at,
        };
      case 'WorkerSpawned':
        return { ...r, pod_id: d.podId, spawned_at: d.at };
      case 'WorkerSpawnFailed':
        return { ...r, status: 'failed', failure: `${d.kind}: ${d.error}`, terminated_at: d.at };
      case 'WorkerActivated':
        if (FINAL.includes(r.status) || r.status === 'terminating') return { ...r, pod_id: r.pod_id ?? d.podId };
        return { ...r, status: 'active', active_at: d.at, pod_id: r.pod_id ?? d.podId };
      case 'WorkerTerminationRequested':
        if (FINAL.includes(r.status)) return r;
        return {
          ...r,
          status: 'terminating',
          termination_requested_at: d.at,
          termination_reason: d.reason,
          termination_detail: d.detail,
        };
      case 'WorkerTerminated':
        return {
          ...r,
          status: d.failed ? 'failed' : 'terminated',
          terminated_at: d.at,
          termination_reason: d.reason,
          termination_detail: d.detail,
          failure: d.failed ? (r.failure ?? `${d.reason}: ${d.detail}`) : r.failure,
        };
      default:
        return row;
    }
  },
};
