import { FALLBACK_POLICY } from '../control/steps/fallback';
import type { StoredEvent } from '../store/event-store';
import type { RecordedCycle, RecordedWorker } from './replay';

/**
 * The record's workers from their lifecycle events (position order), pure: when each was asked
 * for and by which cycle, when it came up and which cycle saw it, whether its spawn failed, when it
 * ended. A worker without its request event (asked for before the events read) is left out.
 */
export function recordedWorkers(events: readonly StoredEvent[]): RecordedWorker[] {
  const byId = new Map<string, RecordedWorker>();
  for (const e of events) {
    if (e.type === 'WorkerSpawnRequested') {
      const d = e.data;
      byId.set(d.workerId, {
        workerId: d.workerId,
        requestCycle: d.cycle,
        requestedAt: d.at,
        activeAt: null,
        activeCycle: null,
        failed: false,
        endedAt: null,
        gpus: d.gpus,
      });
      continue;
    }
    if (e.type === 'WorkerActivated') {
      const w = byId.get(e.data.workerId);
      if (!w) continue;
      w.activeAt ??= e.data.at;
      w.activeCycle ??= typeof e.metadata.cycle === 'number' ? e.metadata.cycle : null;
    } else if (e.type === 'WorkerSpawnFailed' || e.type === 'WorkerTerminated' || e.type === 'WorkerParked') {
      // parked (docs/parked-pods.md): its GPU was released then; a later start from parked is not modelled
      const w = byId.get(e.data.workerId);
      if (!w) continue;
      if (e.type === 'WorkerSpawnFailed') w.failed = true;
      w.endedAt ??= e.data.at;
    }
  }
  return [...byId.values()];
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
