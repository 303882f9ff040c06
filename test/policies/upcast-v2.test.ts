import { appRegistry } from '../../events/index';
import { readLimits } from '../../events/scaling';
import { decisionMath, limitLine, limitsNote } from '../../src/policies/render';

/** A ScalingDecided as schema version 2 stored it: limits without a kind or unit. */
const v2Decision = {
  cycle: 7,
  at: '2026-11-27T18:25:42.000Z',
  queued: 0,
  active: 0,
  total: 0,
  current: { active: 0, spawning: 0, total: 0 },
  busy: 0,
  idle: 0,
  policy: {
    name: 'operators',
    settings: { TASKS_PER_GPU: 1, MIN_ACTIVE_GPUS: 2, MACHINES_TO_KEEP_IDLE: 0 },
    terms: [
      { name: 'minActive', value: 2, formula: 'MIN_ACTIVE_GPUS=2' },
      { name: 'byTasks', value: 0, formula: 'ceil(0 / TASKS_PER_GPU=1)' },
      { name: 'busyPlusIdle', value: 0, formula: 'busy 0 + MACHINES_TO_KEEP_IDLE=0' },
    ],
    combine: 'max(minActive, byTasks, busyPlusIdle)',
  },
  desiredBeforeCaps: 2,
  requested: 2,
  limits: [
    { name: 'MIN_ACTIVE_GPUS', value: 2, from: 0, to: 2 },
    { name: 'MAX_HOURLY_COST_USD', value: 2.5, from: 2, to: 1, detail: '1 x 2.00 = 2.00 USD/h' },
  ],
  desired: 1,
  decision: 'SCALE_UP',
  delta: 1,
  terminate: [],
  timedOut: [],
  reasons: [],
  settings: {
    MAX_WORKERS: 10,
    MAX_ACTIVE_GPUS: 8,
    MAX_HOURLY_COST_USD: 2.5,
    GPU_IDLE_TIMEOUT_SEC: 300,
    SPAWNING_TIMEOUT_SEC: 600,
  },
};

describe('a ScalingDecided of schema version 2 (limits without a kind)', () => {
  test('reads with each limit given its kind and unit, and renders a floor as a floor', () => {
    const e = appRegistry.read(1, 'ScalingDecided', 2, v2Decision);
    if (e.type !== 'ScalingDecided') throw new Error(`expected a ScalingDecided, got ${e.type}`);
    expect(e.data.limits).toEqual([
      { name: 'MIN_ACTIVE_GPUS', kind: 'floor', unit: 'GPUs', value: 2, from: 0, to: 2 },
      {
        name: 'MAX_HOURLY_COST_USD',
        kind: 'cap',
        unit: 'USD/h',
        value: 2.5,
        from: 2,
        to: 1,
        detail: '1 x 2.00 = 2.00 USD/h',
      },
    ]);
    expect(e.data.limits.map(limitLine)).toEqual([
      'floor MIN_ACTIVE_GPUS=2 raised desired 0 -> 2 workers',
      'cap MAX_HOURLY_COST_USD=2.50 cut desired 2 -> 1 worker (1 x 2.00 = 2.00 USD/h)',
    ]);
    expect(limitsNote(e.data.limits)).toBe(' (capped by MAX_HOURLY_COST_USD) (raised by MIN_ACTIVE_GPUS)');
    expect(decisionMath(e.data)).toBe(
      'max(MIN_ACTIVE_GPUS=2, ceil(0 / TASKS_PER_GPU=1) = 0, busy 0 + MACHINES_TO_KEEP_IDLE=0 = 0) = 2; ' +
        'floor MIN_ACTIVE_GPUS=2 raised desired 0 -> 2 workers; ' +
        'cap MAX_HOURLY_COST_USD=2.50 cut desired 2 -> 1 worker (1 x 2.00 = 2.00 USD/h)',
    );
  });

  test('a projection row folded from version 2 reads its limits the same way', () => {
    expect(readLimits(v2Decision.limits)?.map((l) => l.kind)).toEqual(['floor', 'cap']);
    expect(readLimits([{ name: 'X' }])).toBeNull();
  });

  test('a floor of any name, recorded as one, renders as a floor', () => {
    const floor = {
      name: 'SOME_NEW_POLICY_MIN',
      kind: 'floor' as const,
      unit: 'workers' as const,
      value: 3,
      from: 1,
      to: 3,
    };
    expect(limitLine(floor)).toBe('floor SOME_NEW_POLICY_MIN=3 raised desired 1 -> 3 workers');
    expect(limitsNote([floor])).toBe(' (raised by SOME_NEW_POLICY_MIN)');
  });
});
