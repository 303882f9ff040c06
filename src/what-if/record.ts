import { FALLBACK_POLICY } from '../control/steps/fallback';
import type { StoredEvent } from '../store/event-store';
import type { RecordedCycle, RecordedWorker } from './replay';

/**
 * The record's worker lives from their lifecycle events (position order), pure: when each was asked
 * for (or started again from parked) and by which cycle, when it came up and which cycle saw it,
 * whether its spawn failed or its start was refused, when it ended (terminated, or parked: its GPU
 * released then), and for a parked life when its parked spell ended. A worker started again from
 * parked (docs/parked-pods.md) has one life per start. A worker without its request event (asked
 * for before the events read) is left out.
 */
export function recordedWorkers(events: readonly StoredEvent[]): RecordedWorker[] {
  const lives: RecordedWorker[] = [];
  const current = new Map<string, RecordedWorker>();
  const life = (
    workerId: string,
    origin: RecordedWorker['origin'],
    cycle: number,
    at: string,
    gpus: number | null,
  ): RecordedWorker => {
    const w: RecordedWorker = {
      workerId,
      origin,
      requestCycle: cycle,
      requestedAt: at,
      activeAt: null,
      activeCycle: null,
      failed: false,
      endedAt: null,
      parkedAt: null,
      parkEndedAt: null,
      gpus,
    };
    lives.push(w);
    current.set(workerId, w);
    return w;
  };
  for (const e of events) {
    if (e.type === 'WorkerSpawnRequested') {
      life(e.data.workerId, 'cold', e.data.cycle, e.data.at, e.data.gpus);
      continue;
    }
    const w = 'workerId' in e.data ? current.get(String(e.data.workerId)) : undefined;
    if (!w) continue;
    if (e.type === 'WorkerActivated') {
      w.activeAt ??= e.data.at;
      w.activeCycle ??= typeof e.metadata.cycle === 'number' ? e.metadata.cycle : null;
    } else if (e.type === 'WorkerParked') {
      // its GPU is released here; the pod waits, parked, for a start
      w.parkedAt ??= e.data.at;
      w.endedAt ??= e.data.at;
    } else if (e.type === 'WorkerUnparked' || e.type === 'WorkerUnparkRefused') {
      if (w.parkedAt !== null) w.parkEndedAt ??= e.data.at;
      const next = life(w.workerId, 'unparked', e.data.cycle, e.data.at, w.gpus);
      if (e.type === 'WorkerUnparked') next.gpus = e.data.gpuCount ?? w.gpus;
      else {
        // refused: the pod was terminated, it never held a GPU again; a cold create followed
        next.failed = true;
        next.endedAt = e.data.at;
      }
    } else if (e.type === 'WorkerSpawnFailed' || e.type === 'WorkerTerminated') {
      if (e.type === 'WorkerSpawnFailed') w.failed = true;
      // a parked pod terminated (retired, gone) ends its parked spell
      if (w.parkedAt !== null) w.parkEndedAt ??= e.data.at;
      w.endedAt ??= e.data.at;
    }
  }
  return lives;
}

/** What the record says of parking: PARKED_MAX and PARKED_MAX_AGE_SEC as the reactor applied them (null: not seen). */
export interface RecordedParking {
  max: number | null;
  maxAgeSec: number | null;
}

/**
 * PARKED_MAX from the last WorkerParked (each records the PARKED_MAX it was parked under);
 * PARKED_MAX_AGE_SEC from the last retirement of a parked pod for its age (its detail names it).
 */
export function recordedParking(events: readonly StoredEvent[]): RecordedParking {
  const out: RecordedParking = { max: null, maxAgeSec: null };
  for (const e of events) {
    if (e.type === 'WorkerParked') out.max = e.data.parkedMax;
    else if (e.type === 'WorkerTerminated' && e.data.reason === 'lifetime') {
      const m = /over PARKED_MAX_AGE_SEC=(\d+(?:\.\d+)?)/.exec(e.data.detail ?? '');
      if (m) out.maxAgeSec = Number(m[1]);
    }
  }
  return out;
}

/**
 * The recorded cycles among `events` (position order): each accepted count with its decision,
 * oldest first (cycles without a decision are left out, and so are the decisions of the task
 * source's fallback: made without a count, they have nothing a policy could be replayed on; the
 * fleet the cycle before left stands over them, as the fallback holding it did).
 */
export function recordedCycleList(events: readonly StoredEvent[]): RecordedCycle[] {
  const counts = new Map<number, { at: string; queued: number; active: number; workers: RecordedCycle['workers'] }>();
  const cycles: RecordedCycle[] = [];
  for (const e of events) {
    if (e.type === 'TaskCountObserved') {
      const o = e.data;
      counts.set(o.cycle, { at: o.at, queued: o.queued, active: o.active, workers: o.workers });
    } else if (e.type === 'ScalingDecided') {
      const decision = e.data;
      const o = counts.get(decision.cycle);
      if (!o && decision.policy.name === FALLBACK_POLICY) continue;
      cycles.push({
        cycle: decision.cycle,
        at: o?.at ?? decision.at,
        queued: o?.queued ?? decision.queued,
        active: o?.active ?? decision.active,
        workers: o?.workers ?? null,
        decision,
      });
    }
  }
  return cycles.sort((a, b) => a.at.localeCompare(b.at) || a.cycle - b.cycle);
}
