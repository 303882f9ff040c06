import type { AppendResult, EventStore, StoredEvent } from '../../store/event-store';
import type { Anomaly } from '../anomalies';
import { type ConditionState, type ConditionType, recordedConditions } from '../conditions';
import type { PolicyResult } from '../policy';
import type { Observation } from './observe';
import type { LastDecision } from './reactor-wait';

/**
 * What the controller keeps from one cycle to the next, all of it here: init restores it from the
 * record (the controller stream's tail, the health stream, the recorded conditions), and the steps
 * read and update it. Nothing else a cycle reads is left over from the one before.
 */
export interface CycleMemory {
  /** The last cycle run (restored: the highest recorded). */
  cycle: number;
  /** The total of the last valid count (the spike anomaly compares with it). */
  previousTotal: number | null;
  /** The last valid count (a fallback decides from its tasks; health summaries report it). */
  lastTaskCount: { queued: number; active: number; total: number } | null;
  /** The last decision recorded: where the reactor's checkpoint must reach. */
  lastDecision: LastDecision | null;
  /** Cycles in a row without a valid task count. */
  sourceFailures: number;
  /** The desired count of the last decision (cancelling a spawn needs lower demand two cycles in a row). */
  previousDesired: number | null;
  /** Anomalies since the last health summary, by kind. */
  anomaliesSinceSummary: Record<string, number>;
  /** The conditions as the last cycle left them. */
  conditions: Map<ConditionType, ConditionState>;
  /** The override ids obeyed last cycle, to say when that changes (not restored: a new controller says those in force). */
  obeyed: string;
}

export const emptyMemory = (): CycleMemory => ({
  cycle: 0,
  previousTotal: null,
  lastTaskCount: null,
  lastDecision: null,
  sourceFailures: 0,
  previousDesired: null,
  anomaliesSinceSummary: {},
  conditions: new Map(),
  obeyed: '',
});

/**
 * Restores `memory` in place from the controller stream's tail (a cycle running while another
 * controller is found out keeps the same object). The last valid count and the overrides obeyed
 * are kept when the tail has none; the anomalies and conditions are restored by restoreRecorded.
 */
export function restoreFromTail(memory: CycleMemory, tail: readonly StoredEvent[]): void {
  const m: Omit<CycleMemory, 'anomaliesSinceSummary' | 'conditions' | 'obeyed'> = {
    cycle: 0,
    previousTotal: null,
    lastTaskCount: memory.lastTaskCount,
    lastDecision: null,
    sourceFailures: 0,
    previousDesired: null,
  };
  for (const e of tail) {
    if ('cycle' in e.data && typeof e.data.cycle === 'number') m.cycle = Math.max(m.cycle, e.data.cycle);
    if (e.type === 'TaskCountRejected') m.sourceFailures += 1;
    if (e.type === 'TaskCountObserved') {
      m.sourceFailures = 0;
      const { queued, active, total } = e.data;
      m.previousTotal = total;
      m.lastTaskCount = { queued, active, total };
    }
    if (e.type === 'ScalingDecided') {
      m.lastDecision = { txId: e.txId, position: e.globalPosition, cycle: e.data.cycle };
      m.previousDesired = e.data.desired;
    }
  }
  Object.assign(memory, m);
}

/** The rest of the record init restores: anomalies since the last summary, and the conditions. */
export async function restoreRecorded(store: EventStore, memory: CycleMemory, pool?: string): Promise<void> {
  // anomalies since the last health summary, so a restart does not make the next summary forget them
  memory.anomaliesSinceSummary = await store.reads.anomalyKindsSinceLastSummary(pool);
  memory.conditions = new Map((await recordedConditions(store, pool)).map((c) => [c.type, c]));
}

/** Once a cycle's decision is recorded: what the next cycles need of it. */
export function remember(
  memory: CycleMemory,
  cycle: number,
  res: AppendResult,
  observed: Observation,
  decision: PolicyResult,
  anomalies: readonly Anomaly[],
): void {
  memory.lastDecision = { txId: res.txId, position: res.globalPositions[1], cycle };
  memory.previousDesired = decision.desired;
  if (observed.ok) {
    const { queued, active } = observed.value;
    memory.previousTotal = queued + active;
    memory.lastTaskCount = { queued, active, total: queued + active };
  }
  for (const a of anomalies) memory.anomaliesSinceSummary[a.kind] = (memory.anomaliesSinceSummary[a.kind] ?? 0) + 1;
}
