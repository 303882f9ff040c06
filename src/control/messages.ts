import type { DataOf } from '../../events/index';
import { actionText, decisionWords, limitLine, modeTag, policyMath } from '../policies/render';
import { candidatesText, placementText } from '../reactor/placement';
import type { PolicyResult } from './policy';

/** The one renderer of OrphanPodTerminated: the control log, explain and events say it alike. */
export const orphanLine = (d: DataOf<'OrphanPodTerminated'>): string =>
  `🧹 ORPHAN POD TERMINATED: ${d.name} (pod ${d.podId} on ${d.provider}): ${d.reason}`;

/**
 * The operators' log lines, as pure functions of event data. The live loop logs them and
 * `gpu-scaler explain` prints them from the record, so both read the same.
 */
const RULE = '═'.repeat(60);

export interface TaskCountData {
  cycle: number;
  queued: number;
  active: number;
  total: number;
  source: string;
  responseMs: number;
  workers: { workerId: string; activeTasks: number; lastTaskAt: string | null }[] | null;
}

/** A decision as the log lines need it: the policy's result and the cycle's own figures. */
export type DecisionData = Pick<
  PolicyResult,
  | 'total'
  | 'current'
  | 'busy'
  | 'idle'
  | 'policy'
  | 'desiredBeforeCaps'
  | 'requested'
  | 'limits'
  | 'desired'
  | 'decision'
  | 'delta'
  | 'terminate'
  | 'timedOut'
  | 'reasons'
> &
  Partial<Pick<PolicyResult, 'gpusPerWorker' | 'burnUsdPerHour' | 'quoteUsdPerHour'>> & {
    /** Null in decisions recorded before the field. */
    currentGpus?: number | null;
    cycle: number;
    queued: number;
    active: number;
    settings: Record<string, unknown>;
    /** MODE the decision was made in (absent: active). */
    mode?: string;
  };

export const taskCountLine = (d: { cycle: number; queued: number; active: number; total: number }) =>
  `🔢 TASK COUNT (Cycle #${d.cycle}): Queued=${d.queued}, Active=${d.active}, Total=${d.total}`;

export const decisionLine = (d: DecisionData) =>
  `🎯 SCALING DECISION (Cycle #${d.cycle}): Current=${d.current.active}+${d.current.spawning}, Desired=${d.desired}${modeTag(d)}`;

/** `🚀 SCALING UP: Creating 6 new workers (desired 10 capped to 6 by MAX_ACTIVE_GPUS=6)` and friends (src/policies/render.ts). */
export const actionLine = (d: DecisionData): string | null => actionText(d);

/**
 * The figures of a cycle's banner (the framed blocks), without its cycle number, the source's
 * response time or the wording of the policy's formulas (a lookback's count of observations grows
 * while nothing happens): equal on consecutive cycles, nothing changed and the one-liners say it.
 */
export function bannerKey(t: TaskCountData, d: DecisionData): string {
  const holders = t.workers ? t.workers.filter((w) => w.activeTasks > 0).length : null;
  return JSON.stringify([
    [t.queued, t.active, t.source, holders, t.workers?.length ?? null],
    [d.current, d.busy, d.idle, d.currentGpus ?? null, d.burnUsdPerHour ?? null, d.gpusPerWorker ?? 1],
    [d.policy.name, d.policy.terms.map((x) => [x.name, x.value]), d.desiredBeforeCaps, d.limits, d.desired],
    [d.decision, d.delta, d.terminate, d.timedOut, d.reasons],
  ]);
}

/** The decision line of a cycle that changed nothing: `... Desired=2 (MAINTAIN, unchanged since cycle #12)`. */
export const unchangedDecisionLine = (d: DecisionData, since: number) =>
  `${decisionLine(d)} (MAINTAIN, unchanged since cycle #${since})`;

export function taskCountBlock(d: TaskCountData): string {
  const holders = d.workers ? d.workers.filter((w) => w.activeTasks > 0).length : null;
  return [
    RULE,
    `🔢 TASK COUNT (Cycle #${d.cycle})`,
    `   Queued: ${d.queued}`,
    `   Active: ${d.active}`,
    `   Total:  ${d.total}`,
    `   Source: ${d.source} (answered in ${Math.round(d.responseMs)} ms)`,
    RULE,
    '📋 DETAILED TASK BREAKDOWN',
    `   queued_only:        ${d.queued}`,
    `   active_only:        ${d.active}`,
    `   queued_plus_active: ${d.total}`,
    holders === null
      ? '   per-worker activity: not reported by this source'
      : `   workers holding tasks: ${holders} of ${d.workers?.length ?? 0}`,
    RULE,
  ].join('\n');
}

/** `4 GPUs (2 per new worker), burning 2.07 USD/h` for a decision that recorded them. */
export function gpuText(d: {
  gpusPerWorker?: number;
  currentGpus?: number | null;
  burnUsdPerHour?: number | null;
}): string {
  const g = d.gpusPerWorker ?? 1;
  const gpus = d.currentGpus == null ? '' : `${d.currentGpus} GPU${d.currentGpus === 1 ? '' : 's'} `;
  const burn = d.burnUsdPerHour == null ? '' : `, burning ${d.burnUsdPerHour.toFixed(2)} USD/h`;
  return `${gpus}(${g} GPU${g === 1 ? '' : 's'} per new worker)${burn}`;
}

export function decisionBlock(d: DecisionData): string {
  const lines = [
    RULE,
    `🎯 SCALING DECISION (Cycle #${d.cycle})`,
    `   Tasks: queued ${d.queued} + active ${d.active} = total ${d.total}`,
    `   Current workers: active ${d.current.active} + spawning ${d.current.spawning} = ${d.current.total} (busy ${d.busy}, idle ${d.idle})`,
    `   Current GPUs: ${gpuText(d)}`,
    `   Desired workers (policy ${d.policy.name}) = ${policyMath(d.policy, d.desiredBeforeCaps)}`,
    ...d.limits.map((l) => `   ${limitLine(l)}`),
    `   Final desired: ${d.desired} workers`,
    `   Decision: ${decisionWords(d)}`,
    ...d.terminate.map((t) => `   terminate ${t.workerId}: ${t.reason}`),
    ...d.timedOut.map((t) => `   timed out ${t.workerId}: ${t.reason}`),
    ...d.reasons.map((r) => `   - ${r}`),
    RULE,
  ];
  return lines.join('\n');
}

export const anomalyLine = (a: { message: string }) => `🚨 ANOMALY DETECTED: ${a.message}`;
export const anomalyCauses = (a: { causes: string[] }) => `   Possible causes: ${a.causes.join('; ')}`;

export const spawnedLine = (d: {
  ordinal: number;
  of: number;
  podId: string;
  workerId: string;
  recovered?: boolean;
  details?: unknown;
}) => {
  const placed = placementText(d.details);
  return `✅ Worker ${d.ordinal}/${d.of} spawned successfully (worker ${d.workerId}, pod ${d.podId}${d.recovered ? ', found after a restart' : ''})${placed ? ` ${placed}` : ''}`;
};

export const spawnFailedLine = (d: {
  ordinal: number;
  of: number;
  kind: string;
  error: string;
  workerId: string;
  details?: unknown;
}) =>
  `❌ Failed to spawn worker ${d.ordinal}/${d.of} (worker ${d.workerId}): ${d.kind}: ${d.error}${candidatesText(d.details)}`;

/** One step of an unanswered create (WorkerSpawnUnclear): what happened and what is done next. */
export const spawnStepLine = (d: { ordinal: number; of: number; workerId: string; step: string; detail: string }) =>
  `${d.step === 'found' ? '🔎' : '⏳'} Worker ${d.ordinal}/${d.of} (worker ${d.workerId}) create unclear, ${d.step}: ${d.detail}`;

export const terminatedLine = (d: { workerId: string; podId: string | null; reason: string; detail: string }) =>
  `🛑 Worker ${d.workerId} terminated (${d.reason}: ${d.detail})${d.podId ? ` pod ${d.podId}` : ''}`;

export function healthSummaryBlock(d: {
  cycle: number;
  dbLoggingHealthy: boolean;
  lastTaskCount: { queued: number; active: number; total: number } | null;
  lastWorkerCount: number;
  workersByStatus: Record<string, number>;
  anomaliesSinceLast: number;
  anomalyKinds: Record<string, number>;
}): string {
  const kinds = Object.entries(d.anomalyKinds)
    .map(([k, n]) => `${k} x${n}`)
    .join(', ');
  return [
    RULE,
    `📊 HEALTH SUMMARY (Cycle #${d.cycle}):`,
    `   Database logging: ${d.dbLoggingHealthy ? 'healthy' : 'NOT HEALTHY'}`,
    `   Last task count: ${d.lastTaskCount ? `Queued=${d.lastTaskCount.queued}, Active=${d.lastTaskCount.active}, Total=${d.lastTaskCount.total}` : 'none yet'}`,
    `   Workers: ${d.lastWorkerCount} live (${
      Object.entries(d.workersByStatus)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || 'none'
    })`,
    `   Anomalies since last summary: ${d.anomaliesSinceLast}${kinds ? ` (${kinds})` : ''}`,
    RULE,
  ].join('\n');
}

export function healthCheckLine(d: { cycle: number; status: string; problems: string[] }): string {
  const icon = d.status === 'healthy' ? '🩺' : '⚠️';
  return `${icon} HEALTH CHECK (Cycle #${d.cycle}): ${d.status.toUpperCase()}${d.problems.length ? ` - ${d.problems.join('; ')}` : ''}`;
}
