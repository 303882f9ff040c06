import type { Config } from '../../config';
import { type Anomaly, type AnomalyThresholds, detectAnomalies } from '../anomalies';
import type { PolicyResult } from '../policy';
import type { Observation } from './observe';

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
