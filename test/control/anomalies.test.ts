import { loadConfig } from '../../src/config';
import { DEFAULT_ANOMALY_THRESHOLDS, detectAnomalies } from '../../src/control/anomalies';
import { blockSpawning, decide } from '../../src/control/policy';
import { configuredPolicy, controlSettings } from '../../src/control/steps/decide';
import { anomalyThresholds, detectCycleAnomalies } from '../../src/control/steps/detect';

const base = { queued: 0, active: 0, responseMs: 10, source: 'edge', spawning: 0, requested: 0 };
const kinds = (xs: { kind: string }[]) => xs.map((x) => x.kind).sort();

describe('anomaly detector', () => {
  test('0 -> 51 is a count from nowhere (and a rapid scale-up when it spawns 4)', () => {
    const a = detectAnomalies({ ...base, previousTotal: 0, total: 51, queued: 51, spawning: 4, requested: 10 });
    expect(kinds(a)).toEqual(['rapid_scale_up', 'task_count_from_nowhere']);
    const nowhere = a.find((x) => x.kind === 'task_count_from_nowhere');
    expect(nowhere?.message).toBe('Task count jumped from 0 to 51');
    expect(nowhere?.figures).toMatchObject({ previous: 0, current: 51 });
    expect(nowhere?.causes.length).toBeGreaterThan(0);
  });

  test('a spike is more than 10x a previous count above 0', () => {
    expect(kinds(detectAnomalies({ ...base, previousTotal: 2, total: 21 }))).toEqual(['task_count_spike']);
    expect(kinds(detectAnomalies({ ...base, previousTotal: 2, total: 20 }))).toEqual([]);
    expect(kinds(detectAnomalies({ ...base, previousTotal: null, total: 500 }))).toEqual([]);
  });

  test('from nowhere needs more than 10 tasks after 0', () => {
    expect(kinds(detectAnomalies({ ...base, previousTotal: 0, total: 10 }))).toEqual([]);
    expect(kinds(detectAnomalies({ ...base, previousTotal: 0, total: 11 }))).toEqual(['task_count_from_nowhere']);
  });

  test('rapid scale-up at 3 workers in one cycle; slow source over 5 s', () => {
    expect(kinds(detectAnomalies({ ...base, previousTotal: 3, total: 3, spawning: 2 }))).toEqual([]);
    expect(kinds(detectAnomalies({ ...base, previousTotal: 3, total: 3, spawning: 3 }))).toEqual(['rapid_scale_up']);
    expect(kinds(detectAnomalies({ ...base, previousTotal: 3, total: 3, responseMs: 5001 }))).toEqual([
      'slow_task_source',
    ]);
  });

  test('thresholds are configurable', () => {
    const t = { ...DEFAULT_ANOMALY_THRESHOLDS, spikeFactor: 2, rapidScaleUpWorkers: 10, slowSourceMs: 100 };
    expect(kinds(detectAnomalies({ ...base, previousTotal: 2, total: 5, spawning: 5, responseMs: 200 }, t))).toEqual([
      'slow_task_source',
      'task_count_spike',
    ]);
  });
});

describe('anomalies describe what happened', () => {
  test('a decision whose spawning is stopped requests no spawn, so it is no rapid scale-up', () => {
    const decision = decide({
      now: new Date('2026-11-27T18:00:00.000Z'),
      queued: 20,
      active: 0,
      activity: null,
      fleet: [],
      settings: controlSettings(loadConfig({})),
      policy: configuredPolicy(loadConfig({})),
      gpusPerWorker: 1,
      quoteUsdPerHour: null,
    });
    expect(decision.decision).toBe('SCALE_UP');
    const observed = { ok: true as const, value: { queued: 20, active: 0, workers: null }, responseMs: 10 };
    const t = anomalyThresholds(loadConfig({}));
    expect(kinds(detectCycleAnomalies(t, 'edge', 20, observed, decision))).toEqual(['rapid_scale_up']);
    // stopped (a refusal, the breaker, a backoff that keeps the SCALE_UP but requests nothing): no anomaly
    const backingOff = { ...decision, spawnBlocked: 'every candidate is backing off until 18:05' };
    expect(kinds(detectCycleAnomalies(t, 'edge', 20, observed, backingOff))).toEqual([]);
    const blocked = blockSpawning(decision, 'the provider refused our credentials');
    expect(kinds(detectCycleAnomalies(t, 'edge', 20, observed, blocked))).toEqual([]);
  });
});
