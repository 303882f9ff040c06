import type { AppEvent } from '../events/index';
import type { WorkerRow } from './workers';

/** The parking events (events/parking.ts) the workers projection folds. */
export const PARKING_EVENT_TYPES = ['WorkerParked', 'WorkerUnparked', 'WorkerUnparkRefused'] as const;

type ParkingEvent = Extract<AppEvent, { type: (typeof PARKING_EVENT_TYPES)[number] }>;

/** The decision slot an unpark filled, as the workers row keeps it: `<decision event id>#<ordinal>`. */
export const unparkSlot = (decisionEventId: string, ordinal: number) => `${decisionEventId}#${ordinal}`;

/**
 * The workers row after a parking event (r is already a copy). Parked: the pod kept, the worker out
 * of every count. Unparked: a new life on the same pod, spawning from the start (what the spawning
 * timeout and start-to-ready count from). Refused: the pod was terminated, the worker ended.
 */
export function foldParking(r: WorkerRow, e: ParkingEvent): WorkerRow {
  if (r.status === 'terminated' || r.status === 'failed') return r;
  switch (e.type) {
    case 'WorkerParked':
      r.status = 'parked';
      r.parked_at = e.data.at;
      r.parked_hourly_usd = e.data.parkedHourlyUsd;
      r.termination_requested_at = null;
      r.termination_reason = null;
      r.termination_detail = null;
      return r;
    case 'WorkerUnparked':
      r.status = 'spawning';
      r.pod_id = e.data.podId;
      r.cycle = e.data.cycle;
      r.decision_event_id = e.data.decisionEventId;
      r.ordinal = e.data.ordinal;
      r.of_total = e.data.of;
      r.requested_at = e.data.at;
      r.spawned_at = e.data.at;
      r.active_at = null;
      r.unparks += 1;
      r.unpark_slot = unparkSlot(e.data.decisionEventId, e.data.ordinal);
      r.gpu_count = e.data.gpuCount || r.gpu_count;
      r.hourly_cost_usd = e.data.hourlyCostUsd ?? r.hourly_cost_usd;
      return r;
    case 'WorkerUnparkRefused':
      r.status = 'terminated';
      r.terminated_at = e.data.at;
      r.termination_reason = 'unpark_refused';
      r.termination_detail = `${e.data.kind}: ${e.data.error}`;
      return r;
  }
}
