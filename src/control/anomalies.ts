import type { AnomalyKind } from '../../events/anomaly';

export interface AnomalyThresholds {
  /** Workers spawned in one cycle that count as a rapid scale-up (default 3). */
  rapidScaleUpWorkers: number;
  /** A task count more than this many times the previous one is a spike (default 10). */
  spikeFactor: number;
  /** From a previous count of 0, more than this many tasks is "from nowhere" (default 10). */
  fromNowhereTasks: number;
  /** A task source slower than this (ms) is slow (default 5000). */
  slowSourceMs: number;
}

export const DEFAULT_ANOMALY_THRESHOLDS: AnomalyThresholds = {
  rapidScaleUpWorkers: 3,
  spikeFactor: 10,
  fromNowhereTasks: 10,
  slowSourceMs: 5000,
};

export interface AnomalyInput {
  /** The previous accepted task count, null on the first cycle. */
  previousTotal: number | null;
  total: number;
  queued: number;
  active: number;
  responseMs: number;
  source: string;
  /** Workers this cycle's decision requests (0 unless SCALE_UP with spawning not stopped). */
  spawning: number;
  /** What the policy wanted before the hard budget cut it. */
  requested: number;
}

export interface Anomaly {
  kind: AnomalyKind;
  message: string;
  figures: Record<string, number>;
  causes: string[];
}

/** Pure: which anomalies one cycle shows. */
export function detectAnomalies(input: AnomalyInput, t: AnomalyThresholds = DEFAULT_ANOMALY_THRESHOLDS): Anomaly[] {
  const out: Anomaly[] = [];
  const prev = input.previousTotal;
  if (input.spawning >= t.rapidScaleUpWorkers) {
    out.push({
      kind: 'rapid_scale_up',
      message: `Rapid scale-up: ${input.spawning} workers in one cycle (threshold ${t.rapidScaleUpWorkers})`,
      figures: { workers: input.spawning, requested: input.requested, threshold: t.rapidScaleUpWorkers },
      causes: [
        'a real burst of tasks',
        `the task source (${input.source}) over-reporting`,
        'workers failing and being replaced',
      ],
    });
  }
  if (prev !== null && prev > 0 && input.total > prev * t.spikeFactor) {
    out.push({
      kind: 'task_count_spike',
      message: `Task count spike: ${prev} -> ${input.total} (more than ${t.spikeFactor}x)`,
      figures: { previous: prev, current: input.total, factor: Number((input.total / prev).toFixed(2)) },
      causes: [
        'a batch submission',
        `the task source (${input.source}) counting tasks of another run type or stale rows`,
        'a retry storm re-queueing failed tasks',
      ],
    });
  }
  if (prev === 0 && input.total > t.fromNowhereTasks) {
    out.push({
      kind: 'task_count_from_nowhere',
      message: `Task count jumped from 0 to ${input.total}`,
      figures: { previous: 0, current: input.total, queued: input.queued, active: input.active },
      causes: [
        'a batch submission after a quiet period',
        `the task source (${input.source}) answering wrongly (a bad deploy, a query counting the wrong rows)`,
        'tasks re-queued after an outage',
      ],
    });
  }
  if (input.responseMs > t.slowSourceMs) {
    out.push({
      kind: 'slow_task_source',
      message: `Slow task source: ${input.source} answered in ${Math.round(input.responseMs)} ms (threshold ${t.slowSourceMs} ms)`,
      figures: { responseMs: Math.round(input.responseMs), thresholdMs: t.slowSourceMs },
      causes: ['the database or edge function under load', 'network latency', 'a cold start of the edge function'],
    });
  }
  return out;
}
