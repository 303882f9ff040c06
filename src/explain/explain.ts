import type { AppEvent, DataOf } from '../../events/index';
import { reloadLine } from '../config-reload';
import { conditionEventText } from '../control/conditions';
import { gpuText, orphanLine, spawnStepLine } from '../control/messages';
import {
  actionText,
  allocationNote,
  allocationSentences,
  cancelSentence,
  capsAfterRequest,
  floorsOf,
  limitSentences,
  limitSetting,
  modeTag,
  modeText,
  overrideLine,
  overrideSentences,
  policyMath,
} from '../policies/render';
import { durationText, parkedLine, unparkedLine, unparkRefusedLine } from '../reactor/parking';
import { candidatesText, placementText } from '../reactor/placement';
import type { StoredEvent } from '../store/event-store';

type Decision = DataOf<'ScalingDecided'>;

export interface TimelineLine {
  position: number;
  at: string;
  cycle: number | null;
  type: string;
  text: string;
}

export interface CycleFacts {
  cycle: number;
  at: string;
  observed: { queued: number; active: number; total: number; source: string; responseMs: number } | null;
  rejected: { reason: string; raw: string | null } | null;
  previousTotal: number | null;
  decision: Decision | null;
  decisionEventId: string | null;
  anomalies: { kind: string; message: string; causes: string[] }[];
  spawns: {
    ordinal: number;
    of: number;
    workerId: string;
    ok: boolean;
    podId: string | null;
    error: string | null;
    /** Where the pod was placed and what was passed over ('' when the provider did not say). */
    placement?: string;
    /** Set when the worker came from the parked pool: when it had been parked. */
    fromParked?: { parkedAt: string };
    /** Seconds from the decision to the worker being up; null when not up (in the events given). */
    readySec?: number | null;
  }[];
  /** Starts of parked pods refused for this decision (each slot was then cold-created). */
  refusedStarts?: { ordinal: number; of: number; workerId: string; error: string }[];
  terminations: { workerId: string; reason: string; detail: string }[];
}

export interface Explanation {
  focusCycle: number | null;
  timeline: TimelineLine[];
  cycles: CycleFacts[];
  conclusion: string;
}

const n = (x: number, word: string) => `${x} ${word}${x === 1 ? '' : 's'}`;

/** The one renderer of an operator's command: `all pools: paused by ana@ops-1 at 03:12 UTC: ...`. */
export function operatorCommandText(c: DataOf<'OperatorCommandIssued'>): string {
  if (c.command === 'pause' || c.command === 'drain' || c.command === 'set') {
    return overrideLine({ ...c, command: c.command });
  }
  const pool = c.pool === '*' ? 'all pools' : `pool ${c.pool}`;
  const what = c.command === 'resume' ? 'resume' : `unset ${c.key}`;
  return `${pool}: ${what} by ${c.by}${c.reason ? `: ${c.reason}` : ''}`;
}

/** The one renderer of an override's end by itself: `the set of MAX_ACTIVE_GPUS (all pools) expired: ...`. */
export const overrideEndedText = (d: DataOf<'OperatorOverrideEnded'>): string =>
  `the ${d.command}${d.key ? ` of ${d.key}` : ''} (${d.pool === '*' ? 'all pools' : `pool ${d.pool}`}) ${d.how}: its time was up`;

/** One human line per event, in the operators' words (`gpu-scaler events` uses it where it has no shorter one). */
export function describeEvent(e: AppEvent): string | null {
  switch (e.type) {
    case 'TaskCountObserved':
      return `TASK COUNT: Queued=${e.data.queued}, Active=${e.data.active}, Total=${e.data.total} (from ${e.data.source} in ${Math.round(e.data.responseMs)} ms)`;
    case 'TaskCountRejected':
      return `⛔ TASK COUNT REJECTED: ${e.data.reason} (the policy does not decide on it: the fleet is held, or the fallback decides after SOURCE_FAILURE_CYCLES)`;
    case 'ScalingDecided': {
      const caps = capsAfterRequest(e.data.limits);
      const head = `SCALING DECISION: Current=${e.data.current.total}, Desired=${caps.length ? e.data.requested : e.data.desired}`;
      const gpus = e.data.currentGpus == null || (e.data.gpusPerWorker ?? 1) === 1 ? '' : ` [${gpuText(e.data)}]`;
      const floors = floorsOf(e.data.limits);
      const raised = floors.length ? ` (raised by ${floors.map(limitSetting).join(', ')})` : '';
      const shadow = modeTag(e.data);
      const budget = allocationNote(e.data);
      return caps.length
        ? `${head}${raised}, Final=${e.data.desired} (${caps.map(limitSetting).join(', ')})${gpus}${budget}${shadow}`
        : `${head}${raised}${gpus}${budget}${shadow}`;
    }
    case 'AnomalyDetected':
      return `🚨 ANOMALY DETECTED: ${e.data.message}`;
    case 'ConditionChanged':
      return `🚦 CONDITION ${conditionEventText(e.data)}`;
    case 'WorkerSpawnRequested':
      return null;
    case 'WorkerSpawned': {
      const gpus = e.data.gpuCount == null ? '' : `, ${n(e.data.gpuCount, 'GPU')}`;
      const price = e.data.hourlyCostUsd == null ? '' : `, ${e.data.hourlyCostUsd.toFixed(2)} USD/h`;
      const placed = placementText(e.data.details);
      return `✅ Worker ${e.data.ordinal}/${e.data.of} spawned (worker ${e.data.workerId}, pod ${e.data.podId}${gpus}${price}${e.data.recovered ? ', found again after a restart' : ''})${placed ? ` ${placed}` : ''}`;
    }
    case 'WorkerSpawnFailed':
      return `❌ Failed to spawn worker ${e.data.ordinal}/${e.data.of}: ${e.data.kind}: ${e.data.error}${candidatesText(e.data.details)}`;
    case 'WorkerSpawnUnclear':
      return spawnStepLine(e.data);
    case 'WorkerActivated':
      return `🟢 Worker ${e.data.workerId} is up (pod ${e.data.podId})`;
    case 'WorkerTerminationRequested':
      return null;
    case 'WorkerTerminated':
      return `🛑 Worker ${e.data.workerId} terminated: ${e.data.reason} (${e.data.detail})${e.data.failed ? ' [failed]' : ''}`;
    case 'HealthChecked':
      return `🩺 HEALTH CHECK: ${String(e.data.status).toUpperCase()}${e.data.problems.length ? ` - ${e.data.problems.join('; ')}` : ''}`;
    case 'OrphanPodTerminated':
      return orphanLine(e.data);
    case 'ActionIntended':
      return `🕶️ INTENDED (shadow, not done): ${e.data.action} worker ${e.data.workerId}${e.data.podId ? ` (pod ${e.data.podId})` : ''}: ${e.data.reason} (${e.data.detail})`;
    case 'FleetObserved':
      return null;
    case 'WorkerAdopted':
      return `🤝 Pod ${e.data.name} (${e.data.podId}) adopted as worker ${e.data.workerId} by ${e.data.by} (--name-prefix ${e.data.namePrefix})`;
    case 'WorkerParked':
      return parkedLine(e.data);
    case 'WorkerUnparked':
      return unparkedLine(e.data);
    case 'WorkerUnparkRefused':
      return unparkRefusedLine(e.data);
    case 'EventQuarantined':
      return `🧯 EVENT QUARANTINED: the ${e.data.eventType} at global_position ${e.data.position} (stream ${e.data.streamId}) cannot be read and is skipped by every reader: ${e.data.error}`;
    case 'OperatorCommandIssued':
      return `🎛️ OPERATOR: ${operatorCommandText(e.data)}`;
    case 'OperatorOverrideEnded':
      return `🎛️ OPERATOR: ${overrideEndedText(e.data)}`;
    case 'ConfigReloaded':
    case 'ConfigReloadRefused':
      return reloadLine(e.data, e.data.file);
    case 'HealthSummaryRecorded':
      return `📊 HEALTH SUMMARY: ${e.data.lastWorkerCount} workers, ${n(e.data.anomaliesSinceLast, 'anomaly')} since the last summary, database logging ${e.data.dbLoggingHealthy ? 'healthy' : 'NOT healthy'}`;
  }
}

/**
 * Pure: the timeline and the facts of each cycle from events (in any order; sorted by position).
 * `previous` is the accepted task count of the cycle before the first one shown, if known.
 */
export function explain(
  events: readonly StoredEvent[],
  opts: { focusCycle?: number | null; focusAt?: Date | null; previousTotal?: number | null } = {},
): Explanation {
  const sorted = [...events].sort((a, b) => a.globalPosition - b.globalPosition);
  const timeline: TimelineLine[] = [];
  const cycles = new Map<number, CycleFacts>();
  const byDecision = new Map<string, CycleFacts>();
  const cycleOf = (e: StoredEvent): number | null => {
    const c = ('cycle' in e.data ? e.data.cycle : null) ?? e.metadata.cycle;
    return typeof c === 'number' ? c : null;
  };
  const facts = (cycle: number, at: string): CycleFacts => {
    let f = cycles.get(cycle);
    if (!f) {
      f = {
        cycle,
        at,
        observed: null,
        rejected: null,
        previousTotal: null,
        decision: null,
        decisionEventId: null,
        anomalies: [],
        spawns: [],
        terminations: [],
      };
      cycles.set(cycle, f);
    }
    return f;
  };
  for (const e of sorted) {
    const at: string = e.data.at ?? e.recordedAt.toISOString();
    const cycle = cycleOf(e);
    const text = describeEvent(e);
    if (text) timeline.push({ position: e.globalPosition, at, cycle, type: e.type, text });
    if (e.type === 'ScalingDecided') {
      const action = actionText(e.data);
      if (action) timeline.push({ position: e.globalPosition, at, cycle, type: 'ScalingAction', text: action });
    }
    if (cycle === null) continue;
    if (e.type === 'TaskCountObserved') {
      const d = e.data;
      facts(cycle, at).observed = {
        queued: d.queued,
        active: d.active,
        total: d.total,
        source: d.source,
        responseMs: d.responseMs,
      };
    } else if (e.type === 'TaskCountRejected') {
      facts(cycle, at).rejected = { reason: e.data.reason, raw: e.data.raw };
    } else if (e.type === 'ScalingDecided') {
      const f = facts(cycle, at);
      f.decision = e.data;
      f.decisionEventId = e.eventId;
      byDecision.set(e.eventId, f);
    } else if (e.type === 'AnomalyDetected') {
      const d = e.data;
      facts(cycle, at).anomalies.push({ kind: d.kind, message: d.message, causes: d.causes });
    }
  }
  // worker outcomes, attributed to the decision that caused them
  const readyAfter = (workerId: string, position: number, from: string): number | null => {
    const up = sorted.find(
      (x) => x.type === 'WorkerActivated' && x.data.workerId === workerId && x.globalPosition > position,
    );
    return up && up.type === 'WorkerActivated' ? Math.max(0, (Date.parse(up.data.at) - Date.parse(from)) / 1000) : null;
  };
  for (const e of sorted) {
    if (e.type !== 'WorkerUnparked' && e.type !== 'WorkerUnparkRefused') continue;
    const f = typeof e.metadata.causationId === 'string' ? byDecision.get(e.metadata.causationId) : undefined;
    if (!f) continue;
    const d = e.data;
    if (e.type === 'WorkerUnparkRefused') {
      f.refusedStarts = [
        ...(f.refusedStarts ?? []),
        { ordinal: d.ordinal, of: d.of, workerId: d.workerId, error: `${e.data.kind}: ${e.data.error}` },
      ];
      continue;
    }
    f.spawns.push({
      ordinal: d.ordinal,
      of: d.of,
      workerId: d.workerId,
      ok: true,
      podId: d.podId,
      error: null,
      fromParked: { parkedAt: d.parkedAt },
      readySec: readyAfter(d.workerId, e.globalPosition, f.at),
    });
  }
  for (const e of sorted) {
    if (e.type !== 'WorkerSpawned' && e.type !== 'WorkerSpawnFailed') continue;
    const cause = typeof e.metadata.causationId === 'string' ? byDecision.get(e.metadata.causationId) : undefined;
    const f = cause; // a spawn's outcome carries no cycle of its own: it belongs to its decision
    if (!f) continue;
    const d = e.data;
    f.spawns.push({
      ordinal: d.ordinal,
      of: d.of,
      workerId: d.workerId,
      ok: e.type === 'WorkerSpawned',
      podId: e.type === 'WorkerSpawned' ? e.data.podId : null,
      placement: e.type === 'WorkerSpawned' ? placementText(e.data.details) : '',
      error: e.type === 'WorkerSpawnFailed' ? `${e.data.kind}: ${e.data.error}${candidatesText(e.data.details)}` : null,
      ...(e.type === 'WorkerSpawned' ? { readySec: readyAfter(d.workerId, e.globalPosition, f.at) } : {}),
    });
  }
  for (const f of byDecision.values()) f.spawns.sort((a, b) => a.ordinal - b.ordinal);
  for (const e of sorted) {
    if (e.type !== 'WorkerTerminated') continue;
    const c = e.metadata.cycle;
    const f = typeof c === 'number' ? cycles.get(c) : undefined;
    const d = e.data;
    if (f) f.terminations.push({ workerId: d.workerId, reason: d.reason, detail: d.detail });
  }

  const list = [...cycles.values()].sort((a, b) => a.cycle - b.cycle);
  let prev = opts.previousTotal ?? null;
  for (const f of list) {
    f.previousTotal = prev;
    if (f.observed) prev = f.observed.total;
  }
  const focus = pickFocus(list, opts);
  return {
    focusCycle: focus?.cycle ?? null,
    timeline,
    cycles: list,
    conclusion: focus ? conclude(focus) : 'No scaling decision was recorded in this window.',
  };
}

/** The cycle asked for; else the one nearest the time asked that changed the fleet; else the nearest. */
function pickFocus(list: CycleFacts[], opts: { focusCycle?: number | null; focusAt?: Date | null }): CycleFacts | null {
  if (opts.focusCycle != null) return list.find((f) => f.cycle === opts.focusCycle) ?? null;
  const decided = list.filter((f) => f.decision || f.rejected);
  if (decided.length === 0) return null;
  const t = opts.focusAt?.getTime() ?? Date.parse(decided[decided.length - 1].at);
  const dist = (f: CycleFacts) => Math.abs(Date.parse(f.at) - t);
  const changes = decided.filter((f) => f.decision && f.decision.decision !== 'MAINTAIN');
  const pool = changes.length ? changes : decided;
  return pool.reduce((best, f) => (dist(f) < dist(best) ? f : best));
}

/** ` from the parked pool (parked 5 min before), ready in 14 s` / ` new, ready in 2 min` / ''. */
function spawnOrigin(s: CycleFacts['spawns'][number], f: CycleFacts): string {
  // only where parking played a part, so the words of every other decision stay as they were
  if (!f.refusedStarts?.length && !f.spawns.some((x) => x.fromParked)) return '';
  const decidedAt = f.at;
  const ready = s.readySec == null ? '' : `, ready in ${durationText(s.readySec)}`;
  if (s.fromParked) {
    const parked = durationText((Date.parse(decidedAt) - Date.parse(s.fromParked.parkedAt)) / 1000);
    return ` from the parked pool (worker ${s.workerId}, parked ${parked} before)${ready}`;
  }
  return s.readySec === undefined ? '' : ` new${ready}`;
}

/** One paragraph built from the facts of a cycle. */
export function conclude(f: CycleFacts): string {
  const parts: string[] = [];
  const time = f.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  if (f.rejected) {
    return `At ${time} (cycle #${f.cycle}) the task source's answer was rejected: ${f.rejected.reason}. No scaling decision was made and the fleet was held as it was.`;
  }
  const o = f.observed;
  if (o) {
    const before = f.previousTotal === null ? '' : ` (the cycle before it reported ${f.previousTotal})`;
    parts.push(
      `At ${time} (cycle #${f.cycle}) the task source ${o.source} reported ${n(o.total, 'task')}: ${o.queued} queued and ${o.active} active${before}.`,
    );
  }
  const d = f.decision;
  if (d) {
    const g = d.gpusPerWorker ?? 1;
    parts.push(
      `The ${d.policy.name} policy computed desired = ${policyMath(d.policy, d.desiredBeforeCaps)}${g === 1 ? '' : ` workers of ${g} GPUs`}.`,
    );
    parts.push(...limitSentences(d));
    parts.push(...allocationSentences(d));
    parts.push(...overrideSentences(d));
    if (d.currentGpus != null) parts.push(`The fleet held ${gpuText(d)}.`);
    const current = `${d.current.total} worker${d.current.total === 1 ? '' : 's'} (${d.current.active} active, ${d.current.spawning} spawning)`;
    if (d.decision === 'SCALE_UP') parts.push(`With ${current} it decided to SCALE UP by ${d.delta}.`);
    else if (d.decision === 'SCALE_DOWN') {
      const idle = d.terminate.length ? `: ${d.terminate.map((t) => `${t.workerId} (${t.reason})`).join(', ')}` : '';
      parts.push(`With ${current} it decided to SCALE DOWN by ${d.delta}${idle}.`);
    } else parts.push(`With ${current} it decided to MAINTAIN.`);
    if (d.spawnBlocked) parts.push(`Spawning was stopped: ${d.spawnBlocked}.`);
    const cancelled = cancelSentence(d.cancel);
    if (cancelled) parts.push(cancelled[0].toUpperCase() + cancelled.slice(1));
    const mode = modeText(d);
    if (mode) parts.push(`The decision was ${mode}.`);
    const notes = d.reasons.filter((r) => /kept|held|stuck/.test(r));
    if (notes.length) parts.push(`${notes.map((r) => r[0].toUpperCase() + r.slice(1)).join('. ')}.`);
  }
  if (f.anomalies.length) {
    parts.push(
      `Anomalies fired: ${f.anomalies.map((a) => `${a.kind.replaceAll('_', ' ')} ("${a.message}")`).join('; ')}.`,
    );
  } else if (d) {
    parts.push('No anomaly fired.');
  }
  if (f.spawns.length) {
    const ok = f.spawns.filter((s) => s.ok);
    const failed = f.spawns.filter((s) => !s.ok);
    parts.push(
      `Spawns: ${ok.length} of ${d?.delta ?? f.spawns.length} succeeded${ok.length ? ` (${ok.map((s) => `${s.ordinal}/${s.of} pod ${s.podId}${spawnOrigin(s, f)}${s.placement ? ` ${s.placement}` : ''}`).join(', ')})` : ''}${failed.length ? `; ${failed.length} failed (${failed.map((s) => `${s.ordinal}/${s.of}: ${s.error}`).join('; ')})` : ''}.`,
    );
    if (f.refusedStarts?.length)
      parts.push(
        `Starts of parked pods refused (each slot then created a new pod): ${f.refusedStarts.map((r) => `${r.ordinal}/${r.of} worker ${r.workerId}: ${r.error.replace(/\.$/, '')}`).join('; ')}.`,
      );
  } else if (d?.decision === 'SCALE_UP' && !modeText(d)) {
    parts.push('No spawn result is recorded for it yet (the reactor may not have acted).');
  }
  if (f.terminations.length) {
    parts.push(`Terminated: ${f.terminations.map((t) => `${t.workerId} (${t.reason})`).join(', ')}.`);
  }
  const fromNowhere = f.anomalies.find((a) => a.kind === 'task_count_from_nowhere' || a.kind === 'task_count_spike');
  if (fromNowhere) parts.push(`If the jump was not real work, check: ${fromNowhere.causes.join('; ')}.`);
  return parts.join(' ');
}

/**
 * The placement candidates a provider recorded on a spawn failure (`details.candidates`), as
 * " [candidates: A in DC: no_stock (...); B: rejected (...)]"; empty when there are none.
 */

export { candidatesText };
