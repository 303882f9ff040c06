import { randomUUID } from 'node:crypto';
import type { NewDataOf } from '../../../events/index';
import type { ControlSettings } from '../../../events/scaling';
import { limitSetting } from '../../policies/render';
import type { AppendResult, EventMetadata } from '../../store/event-store';
import type { Anomaly } from '../anomalies';
import type { ControlStream } from '../control-stream';
import { type ControlLog, fact } from '../log';
import {
  actionLine,
  anomalyCauses,
  anomalyLine,
  bannerKey,
  decisionBlock,
  decisionLine,
  taskCountBlock,
  taskCountLine,
  unchangedDecisionLine,
} from '../messages';
import type { PolicyResult } from '../policy';
import type { Observation, SourceReading } from './observe';

export interface RecordContext {
  stream: ControlStream;
  log: ControlLog;
  /** The task source's name. */
  source: string;
  settings: ControlSettings;
  /** Correlation and decision ids (default random UUIDs; a simulation passes seeded ones). */
  newId?: () => string;
  /**
   * The banner last printed in full (what it said, see bannerKey, and its cycle): a cycle that
   * would print the same, deciding MAINTAIN with no anomaly, is said in its one-liners only.
   * Kept here across cycles by recordCycle.
   */
  lastBanner?: { key: string; cycle: number };
}

/** Condition changes recorded in a cycle's batch (src/control/conditions.ts). */
export type ConditionEvent = { type: 'ConditionChanged'; data: NewDataOf<'ConditionChanged'> };

/** Record: a task count that did not validate (no decision: the fleet is held as it is). */
export async function recordRejected(
  ctx: RecordContext,
  cycle: number,
  at: string,
  r: Extract<Observation, { ok: false }>,
  conditions: readonly ConditionEvent[] = [],
): Promise<void> {
  const { log } = ctx;
  const data = { cycle, at, source: ctx.source, reason: r.reason, raw: r.raw, responseMs: r.responseMs };
  const metadata = { cycle, correlationId: (ctx.newId ?? randomUUID)() };
  await ctx.stream.append(
    [{ type: 'TaskCountRejected', data, metadata }, ...conditions.map((c) => ({ ...c, metadata }))],
    cycle,
  );
  log.log('error', `❌ TASK COUNT REJECTED (Cycle #${cycle}): ${r.reason}; raw answer: ${r.raw}`, { cycle });
  ctx.lastBanner = undefined; // the next accepted cycle prints its banner in full
  fact(
    log,
    'crit',
    `🎯 SCALING DECISION (Cycle #${cycle}): none - task count rejected, fleet held as it is`,
    { cycle },
    `TASK COUNT REJECTED cycle=${cycle} reason=${r.reason} -> no scaling decision, fleet held`,
  );
}

/**
 * Record: a cycle without a valid task count past SOURCE_FAILURE_CYCLES, as one atomic batch: the
 * rejection, the fallback's decision (policy `fallback`: the fleet held, or FALLBACK_WORKERS; its
 * queued and active are the last valid count's, `lastCount`), its anomalies and condition changes.
 * Then its log lines. Null when another controller wrote this cycle.
 */
export async function recordFallback(
  ctx: RecordContext,
  cycle: number,
  at: string,
  r: Extract<Observation, { ok: false }>,
  lastCount: { queued: number; active: number },
  decision: PolicyResult,
  anomalies: Anomaly[],
  conditions: readonly ConditionEvent[] = [],
): Promise<AppendResult | null> {
  const { log } = ctx;
  const newId = ctx.newId ?? randomUUID;
  const meta = { cycle, correlationId: newId() };
  const rejected = { cycle, at, source: ctx.source, reason: r.reason, raw: r.raw, responseMs: r.responseMs };
  const decidedData = { cycle, at, ...lastCount, ...decision, settings: ctx.settings };
  const res = await appendDecision(
    ctx,
    cycle,
    meta,
    { type: 'TaskCountRejected', data: rejected, metadata: meta },
    decidedData,
    newId(),
    anomalies,
    conditions,
  );
  if (!res) return null;
  log.log('error', `❌ TASK COUNT REJECTED (Cycle #${cycle}): ${r.reason}; raw answer: ${r.raw}`, { cycle });
  ctx.lastBanner = undefined;
  fact(
    log,
    'crit',
    decisionLine(decidedData),
    { cycle, desired: decision.desired, decision: decision.decision },
    `SCALING DECISION cycle=${cycle} fallback current=${decision.current.active}+${decision.current.spawning} desired=${decision.desired} decision=${decision.decision} delta=${decision.delta} reason=${decision.reasons[0] ?? ''}`,
  );
  log.log('crit', decisionBlock(decidedData), { cycle });
  logActionAndAnomalies(log, cycle, decidedData, anomalies);
  return res;
}

/**
 * Record: the cycle as one atomic batch on the controller stream (the observation, the decision,
 * its anomalies), then its log lines: the one-liners at crit (each mirrored on stderr), the framed
 * blocks, the action, the anomalies. A cycle that changed nothing (MAINTAIN, no anomaly, the same
 * banner as the last one printed) is said in the two one-liners only. Null when another controller
 * wrote this cycle (nothing logged).
 */
export async function recordCycle(
  ctx: RecordContext,
  cycle: number,
  at: string,
  observed: Extract<Observation, { ok: true }>,
  decision: PolicyResult,
  anomalies: Anomaly[],
  conditions: readonly ConditionEvent[] = [],
): Promise<AppendResult | null> {
  const { log } = ctx;
  const { queued, active, workers } = observed.value;
  const total = queued + active;
  const newId = ctx.newId ?? randomUUID;
  const meta = { cycle, correlationId: newId() };
  const observedData = {
    cycle,
    at,
    source: ctx.source,
    queued,
    active,
    total,
    responseMs: observed.responseMs,
    workers,
  };
  const decidedData = { cycle, at, queued, active, ...decision, settings: ctx.settings };
  const res = await appendDecision(
    ctx,
    cycle,
    meta,
    { type: 'TaskCountObserved', data: observedData, metadata: meta },
    decidedData,
    newId(),
    anomalies,
    conditions,
  );
  if (!res) return null;

  const limits = decision.limits.length ? ` limits=${decision.limits.map(limitSetting).join(',')}` : '';
  fact(
    log,
    'crit',
    taskCountLine(observedData),
    { cycle, queued, active, total },
    `TASK COUNT cycle=${cycle} queued=${queued} active=${active} total=${total}`,
  );
  const key = bannerKey(observedData, decidedData);
  const last = ctx.lastBanner;
  const unchanged = decision.decision === 'MAINTAIN' && anomalies.length === 0 && last?.key === key;
  fact(
    log,
    'crit',
    unchanged && last ? unchangedDecisionLine(decidedData, last.cycle) : decisionLine(decidedData),
    { cycle, desired: decision.desired, decision: decision.decision },
    `SCALING DECISION cycle=${cycle} current=${decision.current.active}+${decision.current.spawning} desired=${decision.desired} decision=${decision.decision} delta=${decision.delta}${limits}`,
  );
  if (!unchanged) {
    log.log('crit', taskCountBlock(observedData), { cycle });
    log.log('crit', decisionBlock(decidedData), { cycle });
    ctx.lastBanner = { key, cycle };
  }
  logActionAndAnomalies(log, cycle, decidedData, anomalies);
  return res;
}

/**
 * Record, a cycle's step: the cycle with its decision as one atomic batch, from a valid count
 * (recordCycle) or by the fallback (recordFallback). Null when another controller wrote this cycle.
 */
export function recordDecision(
  ctx: RecordContext,
  cycle: number,
  at: string,
  source: Pick<SourceReading, 'observed' | 'lastCount'>,
  decision: PolicyResult,
  anomalies: Anomaly[],
  conditions: readonly ConditionEvent[],
): Promise<AppendResult | null> {
  const { observed } = source;
  return observed.ok
    ? recordCycle(ctx, cycle, at, observed, decision, anomalies, conditions)
    : recordFallback(ctx, cycle, at, observed, source.lastCount, decision, anomalies, conditions);
}

/**
 * A decided cycle's one atomic batch: what the source said (a count, or its rejection), the
 * decision, and the anomalies and condition changes it caused.
 */
function appendDecision(
  ctx: RecordContext,
  cycle: number,
  meta: { cycle: number; correlationId: string },
  count:
    | { type: 'TaskCountObserved'; data: NewDataOf<'TaskCountObserved'>; metadata: EventMetadata }
    | { type: 'TaskCountRejected'; data: NewDataOf<'TaskCountRejected'>; metadata: EventMetadata },
  decided: NewDataOf<'ScalingDecided'>,
  decidedId: string,
  anomalies: readonly Anomaly[],
  conditions: readonly ConditionEvent[],
): Promise<AppendResult | null> {
  const caused = { ...meta, causationId: decidedId };
  return ctx.stream.append(
    [
      count,
      { type: 'ScalingDecided', data: decided, eventId: decidedId, metadata: meta },
      ...anomalies.map((a) => ({
        type: 'AnomalyDetected' as const,
        data: { cycle, at: decided.at, ...a },
        metadata: caused,
      })),
      ...conditions.map((c) => ({ ...c, metadata: caused })),
    ],
    cycle,
  );
}

/** After a decided cycle's batch is recorded: its action and each anomaly, said once each. */
function logActionAndAnomalies(
  log: ControlLog,
  cycle: number,
  decided: Parameters<typeof actionLine>[0],
  anomalies: readonly Anomaly[],
): void {
  const action = actionLine(decided);
  if (action) fact(log, 'crit', action, { cycle });
  for (const a of anomalies) {
    fact(
      log,
      'alert',
      `${anomalyLine(a)}\n${anomalyCauses(a)}`,
      { cycle, anomaly: a.kind, figures: a.figures },
      `ANOMALY cycle=${cycle} kind=${a.kind} ${a.message}`,
    );
  }
}
