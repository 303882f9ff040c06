import type { Config } from '../../config';
import type { StoreWatch } from '../../store/store-watch';
import { type Anomaly, type AnomalyThresholds, detectAnomalies } from '../anomalies';
import type { PolicyResult } from '../policy';
import type { Observation } from './observe';
import type { SpawnBlock } from './spawn-guard';

export const anomalyThresholds = (c: Config): AnomalyThresholds => ({
  rapidScaleUpWorkers: c.ANOMALY_RAPID_SCALE_UP_WORKERS,
  spikeFactor: c.ANOMALY_SPIKE_FACTOR,
  fromNowhereTasks: c.ANOMALY_FROM_NOWHERE_TASKS,
  slowSourceMs: c.ANOMALY_SLOW_SOURCE_SEC * 1000,
});

/**
 * Detect, pure: the anomalies of a cycle's observation and (guarded) decision. Spawns count only
 * when the decision requests them: a decision whose spawning is stopped or held (a refusal, the
 * breaker, a backoff, a lagging reactor) requests none, so it is no rapid scale-up.
 */
export function detectCycleAnomalies(
  t: AnomalyThresholds,
  source: string,
  previousTotal: number | null,
  observed: Extract<Observation, { ok: true }>,
  decision: PolicyResult,
): Anomaly[] {
  const { queued, active } = observed.value;
  return detectAnomalies(
    {
      previousTotal,
      total: queued + active,
      queued,
      active,
      responseMs: observed.responseMs,
      source,
      spawning: decision.decision === 'SCALE_UP' && decision.spawnBlocked === null ? decision.delta : 0,
      requested: decision.requested,
    },
    t,
  );
}

export interface DetectContext {
  thresholds: AnomalyThresholds;
  /** The task source's name. */
  source: string;
  /** Quarantined events and held-back reads, reported as anomalies. */
  storeWatch: StoreWatch;
}

/** Detect, a cycle's step: the anomalies of the spawn block, of a valid observation and its decision, and of the store. */
export async function cycleAnomalies(
  ctx: DetectContext,
  previousTotal: number | null,
  block: Pick<SpawnBlock, 'anomalies'>,
  observed: Observation,
  decision: PolicyResult,
): Promise<Anomaly[]> {
  return [
    ...block.anomalies,
    ...(observed.ok ? detectCycleAnomalies(ctx.thresholds, ctx.source, previousTotal, observed, decision) : []),
    ...(await ctx.storeWatch.incidents()),
  ];
}
