import { z } from 'zod';
import type { ControlSettings } from '../../events/scaling';
import {
  blockSpawning,
  type FleetWorker,
  type PolicyInput,
  type PolicyResult,
  decide as run,
} from '../../src/control/policy';
import { choosePolicy } from '../../src/policies/index';
import { definePolicy } from '../../src/policies/policy';

/** The caps' settings and the operators policy's, as one block (the way the environment gives them). */
type Settings = ControlSettings & { TASKS_PER_GPU: number; MIN_ACTIVE_GPUS: number; MACHINES_TO_KEEP_IDLE: number };
const settings: Settings = {
  TASKS_PER_GPU: 1,
  MIN_ACTIVE_GPUS: 0,
  MAX_WORKERS: 10,
  MAX_ACTIVE_GPUS: 10,
  MACHINES_TO_KEEP_IDLE: 0,
  GPU_IDLE_TIMEOUT_SEC: 300,
  SPAWNING_TIMEOUT_SEC: 600,
  WORKER_MAX_LIFETIME_SEC: null,
  MAX_HOURLY_COST_USD: null,
};
const NOW = new Date('2026-11-27T18:30:00.000Z');
const ago = (sec: number) => new Date(NOW.getTime() - sec * 1000).toISOString();
const worker = (id: string, status: FleetWorker['status'], activeSecAgo: number | null, requestedSecAgo = 900) => ({
  workerId: id,
  podId: `pod-${id}`,
  status,
  requestedAt: ago(requestedSecAgo),
  activeAt: activeSecAgo === null ? null : ago(activeSecAgo),
  gpus: null,
  hourlyCostUsd: null,
});
const input = (over: Partial<Omit<PolicyInput, 'settings' | 'policy'>> & { settings?: Settings }): PolicyInput => ({
  now: NOW,
  queued: 0,
  active: 0,
  activity: null,
  fleet: [],
  gpusPerWorker: 1,
  quoteUsdPerHour: null,
  ...over,
  settings: over.settings ?? settings,
  policy: choosePolicy('operators', over.settings ?? settings),
});
/** The decision with the operators' terms by name, as they were recorded before policies were plug-ins. */
const decide = (i: PolicyInput): PolicyResult & { terms: Record<string, number> } => {
  const r = run(i);
  return { ...r, terms: Object.fromEntries(r.policy.terms.map((t) => [t.name, t.value])) };
};

describe('the default policy', () => {
  test('the operators example: 51 tasks want 10 (MAX_WORKERS), the budget cuts to 4', () => {
    const r = decide(input({ queued: 51, settings: { ...settings, MAX_ACTIVE_GPUS: 4 } }));
    expect(r).toMatchObject({
      total: 51,
      terms: { minActive: 0, byTasks: 51, busyPlusIdle: 0 },
      desiredBeforeCaps: 51,
      requested: 10,
      desired: 4,
      decision: 'SCALE_UP',
      delta: 4,
    });
    expect(r.limits).toEqual([
      { name: 'MAX_WORKERS', kind: 'cap', unit: 'workers', value: 10, from: 51, to: 10 },
      { name: 'MAX_ACTIVE_GPUS', kind: 'cap', unit: 'GPUs', value: 4, from: 10, to: 4 },
    ]);
  });

  test('TASKS_PER_GPU divides and rounds up; MIN_ACTIVE_GPUS is a floor that is recorded', () => {
    expect(decide(input({ queued: 5, settings: { ...settings, TASKS_PER_GPU: 2 } })).desired).toBe(3);
    const floor = decide(input({ queued: 1, settings: { ...settings, MIN_ACTIVE_GPUS: 2 } }));
    expect(floor.desired).toBe(2);
    expect(floor.limits).toEqual([{ name: 'MIN_ACTIVE_GPUS', kind: 'floor', unit: 'GPUs', value: 2, from: 1, to: 2 }]);
  });

  test('busy + MACHINES_TO_KEEP_IDLE keeps spare capacity', () => {
    const fleet = [worker('a', 'active', 600), worker('b', 'active', 600)];
    const activity = [
      { workerId: 'a', activeTasks: 1, lastTaskAt: null },
      { workerId: 'b', activeTasks: 1, lastTaskAt: null },
    ];
    const r = decide(input({ active: 2, fleet, activity, settings: { ...settings, MACHINES_TO_KEEP_IDLE: 1 } }));
    expect(r.busy).toBe(2);
    expect(r.desired).toBe(3);
    expect(r.decision).toBe('SCALE_UP');
    expect(r.delta).toBe(1);
  });

  test('current counts active and spawning; equal desired is MAINTAIN', () => {
    const r = decide(input({ queued: 2, fleet: [worker('a', 'active', 60), worker('b', 'spawning', null, 20)] }));
    expect(r.current).toEqual({ active: 1, spawning: 1, total: 2 });
    expect(r.decision).toBe('MAINTAIN');
    expect(r.delta).toBe(0);
  });

  test('scale-down removes only workers idle past the timeout, least recently used first', () => {
    const fleet = [worker('recent', 'active', 100), worker('old', 'active', 900), worker('older', 'active', 1200)];
    const activity = [
      { workerId: 'recent', activeTasks: 0, lastTaskAt: null },
      { workerId: 'old', activeTasks: 0, lastTaskAt: ago(400) },
      { workerId: 'older', activeTasks: 0, lastTaskAt: ago(350) },
    ];
    const r = decide(input({ fleet, activity }));
    expect(r.decision).toBe('SCALE_DOWN');
    expect(r.terminate.map((t) => [t.workerId, t.idleSec])).toEqual([
      ['old', 400],
      ['older', 350],
    ]);
    expect(r.reasons.join(' ')).toMatch(/1 worker\(s\) over desired kept/);
  });

  test('a worker holding a task is never removed, however long it has been active', () => {
    const fleet = [worker('busy', 'active', 5000), worker('idle', 'active', 5000)];
    const activity = [
      { workerId: 'busy', activeTasks: 1, lastTaskAt: null },
      { workerId: 'idle', activeTasks: 0, lastTaskAt: null },
    ];
    const r = decide(input({ active: 1, fleet, activity }));
    expect(r.desired).toBe(1);
    expect(r.terminate.map((t) => t.workerId)).toEqual(['idle']);
  });

  test('idle time counts from the last finished task, not from a heartbeat', () => {
    const fleet = [worker('w', 'active', 3600)];
    const r = decide(input({ fleet, activity: [{ workerId: 'w', activeTasks: 0, lastTaskAt: ago(120) }] }));
    expect(r.decision).toBe('MAINTAIN');
    expect(r.terminate).toEqual([]);
  });

  test('without per-worker activity, as many workers as active tasks are kept', () => {
    const fleet = [worker('a', 'active', 900), worker('b', 'active', 900), worker('c', 'active', 900)];
    const r = decide(input({ active: 1, fleet }));
    expect(r.desired).toBe(1);
    expect(r.terminate).toHaveLength(2);
  });

  test('workers stuck in spawning past SPAWNING_TIMEOUT_SEC are listed and not counted', () => {
    const r = decide(input({ queued: 1, fleet: [worker('stuck', 'spawning', null, 700)] }));
    expect(r.timedOut.map((t) => t.workerId)).toEqual(['stuck']);
    expect(r.current.total).toBe(0);
    expect(r.decision).toBe('SCALE_UP');
    expect(r.delta).toBe(1);
  });

  test('WORKER_MAX_LIFETIME_SEC terminates workers past their lifetime and replaces them if still needed', () => {
    const fleet = [worker('old', 'active', 4000), worker('young', 'active', 100)];
    const r = decide(input({ queued: 2, fleet, settings: { ...settings, WORKER_MAX_LIFETIME_SEC: 3600 } }));
    expect(r.expired.map((t) => t.workerId)).toEqual(['old']);
    expect(r.expired[0].reason).toBe('active for 4000s > WORKER_MAX_LIFETIME_SEC=3600');
    expect(r.current.total).toBe(1);
    expect(r).toMatchObject({ decision: 'SCALE_UP', delta: 1 });
  });

  test('MAX_ACTIVE_GPUS=0 (the emergency stop) spawns nothing and removes only workers idle past GPU_IDLE_TIMEOUT_SEC, spares too', () => {
    const fleet = [
      worker('idle', 'active', 900), // idle 900s >= GPU_IDLE_TIMEOUT_SEC=300
      worker('recent', 'active', 10), // idle 10s: not yet
      worker('busy', 'active', 900), // holds a task
      worker('new', 'spawning', null, 30),
    ];
    const activity = [
      { workerId: 'idle', activeTasks: 0, lastTaskAt: null },
      { workerId: 'recent', activeTasks: 0, lastTaskAt: null },
      { workerId: 'busy', activeTasks: 1, lastTaskAt: null },
    ];
    const emergency = { ...settings, MAX_ACTIVE_GPUS: 0, MACHINES_TO_KEEP_IDLE: 2 };
    const r = decide(input({ queued: 9, active: 1, activity, fleet, settings: emergency }));
    expect(r).toMatchObject({ desired: 0, decision: 'SCALE_DOWN', delta: 1 });
    expect(r.terminate).toEqual([
      { workerId: 'idle', podId: 'pod-idle', idleSec: 900, reason: 'idle 900s >= GPU_IDLE_TIMEOUT_SEC=300' },
    ]);
    expect(r.limits.map((l) => [l.name, l.from, l.to])).toEqual([['MAX_ACTIVE_GPUS', 10, 0]]);
    expect(r.reasons).toContain(
      '3 worker(s) over desired kept: not idle for GPU_IDLE_TIMEOUT_SEC=300s, still spawning, or holding a task',
    );
  });

  test('MAX_ACTIVE_GPUS=0 with no worker idle past the timeout terminates nothing', () => {
    const fleet = [worker('a', 'active', 10)];
    const r = decide(input({ queued: 9, active: 1, fleet, settings: { ...settings, MAX_ACTIVE_GPUS: 0 } }));
    expect(r).toMatchObject({ desired: 0, decision: 'MAINTAIN', delta: 0, terminate: [] });
  });
});

describe("a policy's own idle time before scale-down", () => {
  /** Wants no worker and lets them go after IDLE_SEC idle (a policy of the test's own). */
  const quick = definePolicy({
    name: 'quick',
    description: 'no workers; idle ones go after IDLE_SEC',
    settings: z.object({ IDLE_SEC: z.number().default(60) }),
    lookbackSec: () => 0,
    decide: (_view, s) => ({
      desired: 0,
      terms: [{ name: 'none', value: 0, formula: '0' }],
      combine: 'none',
      scaleDownIdle: { sec: s.IDLE_SEC, setting: 'IDLE_SEC' },
      reasons: [],
    }),
  });
  const fleet = [worker('long', 'active', 100), worker('short', 'active', 30)];
  const activity = [
    { workerId: 'long', activeTasks: 0, lastTaskAt: null },
    { workerId: 'short', activeTasks: 0, lastTaskAt: null },
  ];

  test('replaces GPU_IDLE_TIMEOUT_SEC: a worker idle 100 s goes under 60 s, one idle 30 s stays; the record keeps it', () => {
    const r = run({ ...input({ fleet, activity }), policy: { policy: quick, settings: { IDLE_SEC: 60 } } });
    expect(r.terminate).toEqual([
      { workerId: 'long', podId: 'pod-long', idleSec: 100, reason: 'idle 100s >= IDLE_SEC=60' },
    ]);
    expect(r.policy.scaleDownIdle).toEqual({ sec: 60, setting: 'IDLE_SEC' });
    expect(r.reasons).toContain(
      '1 worker(s) over desired kept: not idle for IDLE_SEC=60s, still spawning, or holding a task',
    );
  });

  test('a policy without one (operators) keeps GPU_IDLE_TIMEOUT_SEC: neither worker goes, nothing recorded', () => {
    const r = decide(input({ fleet, activity }));
    expect(r.terminate).toEqual([]);
    expect(r.policy.scaleDownIdle).toBeUndefined();
    expect(r.reasons.join(' ')).toMatch(/not idle for GPU_IDLE_TIMEOUT_SEC=300s/);
  });
});

describe('blocked spawning', () => {
  test('a scale-up becomes MAINTAIN with the reason; other decisions keep their action', () => {
    const up = blockSpawning(decide(input({ queued: 3 })), 'circuit breaker open');
    expect(up).toMatchObject({ decision: 'MAINTAIN', delta: 0, desired: 3, spawnBlocked: 'circuit breaker open' });
    // the spawn's reason is replaced, not followed: nothing reads "spawn 3" for a cycle that spawned nothing
    expect(up.reasons).toContain('desired 3 > current 0: would spawn 3, but spawning stopped: circuit breaker open');
    expect(up.reasons.join('\n')).not.toMatch(/: spawn 3$/m);
    const fleet = [worker('a', 'active', 900)];
    const down = blockSpawning(decide(input({ fleet })), 'x');
    expect(down).toMatchObject({ decision: 'SCALE_DOWN', delta: 1, spawnBlocked: 'x' });
  });
});

describe('GPUs and money', () => {
  const two = (id: string, status: FleetWorker['status'], price: number | null = null): FleetWorker => ({
    ...worker(id, status, 600),
    gpus: 2,
    hourlyCostUsd: price,
  });

  test('MAX_ACTIVE_GPUS counts GPUs: 2-GPU workers against a budget of 4 GPUs make 2 workers', () => {
    const r = decide(input({ queued: 51, gpusPerWorker: 2, settings: { ...settings, MAX_ACTIVE_GPUS: 4 } }));
    expect(r).toMatchObject({ desired: 2, delta: 2, decision: 'SCALE_UP', currentGpus: 0, gpusPerWorker: 2 });
    expect(r.limits).toContainEqual({
      name: 'MAX_ACTIVE_GPUS',
      kind: 'cap',
      unit: 'GPUs',
      value: 4,
      from: 10,
      to: 2,
      detail: '0 GPUs live + 2 x 2 = 4 GPUs',
    });
    expect(r.reasons).toContain('capped to 2 workers by MAX_ACTIVE_GPUS=4: 0 GPUs live + 2 x 2 = 4 GPUs');
  });

  test('workers count their own recorded GPUs: 1 live worker of 2 GPUs leaves room for 1 more under 4', () => {
    const fleet = [two('a', 'active')];
    const r = decide(input({ queued: 10, fleet, gpusPerWorker: 2, settings: { ...settings, MAX_ACTIVE_GPUS: 4 } }));
    expect(r).toMatchObject({ currentGpus: 2, desired: 2, delta: 1 });
    // a worker being terminated still holds its GPUs
    const r2 = decide(
      input({
        queued: 10,
        fleet: [two('a', 'active'), two('b', 'terminating')],
        gpusPerWorker: 2,
        settings: { ...settings, MAX_ACTIVE_GPUS: 4 },
      }),
    );
    expect(r2).toMatchObject({ currentGpus: 4, desired: 1, decision: 'MAINTAIN', delta: 0 });
  });

  test('MIN_ACTIVE_GPUS is GPUs and a worker of N GPUs takes N x TASKS_PER_GPU tasks', () => {
    const floor = decide(input({ gpusPerWorker: 2, settings: { ...settings, MIN_ACTIVE_GPUS: 3 } }));
    expect(floor.terms.minActive).toBe(2); // ceil(3 / 2) workers
    expect(floor.desired).toBe(2);
    const byTasks = decide(input({ queued: 9, gpusPerWorker: 2, settings: { ...settings, TASKS_PER_GPU: 2 } }));
    expect(byTasks.terms.byTasks).toBe(3); // ceil(9 / (2 x 2))
  });

  test('MAX_HOURLY_COST_USD binds after the GPU budget, with its math', () => {
    const r = decide(input({ queued: 10, quoteUsdPerHour: 0.69, settings: { ...settings, MAX_HOURLY_COST_USD: 2.5 } }));
    expect(r).toMatchObject({ desired: 3, delta: 3 });
    expect(r.limits).toEqual([
      {
        name: 'MAX_HOURLY_COST_USD',
        kind: 'cap',
        unit: 'USD/h',
        value: 2.5,
        from: 10,
        to: 3,
        detail: '3 x 0.69 = 2.07 USD/h',
      },
    ]);
    expect(r.reasons).toContain('capped to 3 workers by MAX_HOURLY_COST_USD=2.50: 3 x 0.69 = 2.07 USD/h');
  });

  test('a cheaper price fits more workers; the live fleet is counted at its recorded prices', () => {
    const s = { ...settings, MAX_HOURLY_COST_USD: 2.5 };
    expect(decide(input({ queued: 10, quoteUsdPerHour: 0.39, settings: s })).desired).toBe(6);
    const fleet = [{ ...worker('a', 'active', 600), gpus: 1, hourlyCostUsd: 1.2 }];
    const r = decide(input({ queued: 10, fleet, quoteUsdPerHour: 0.39, settings: s }));
    expect(r).toMatchObject({ desired: 4, delta: 3, burnUsdPerHour: 1.2 });
    expect(r.limits[0].detail).toBe('1.20 live + 3 x 0.39 = 2.37 USD/h');
  });

  test('with the cost cap set and prices unknown, nothing is spawned beyond the current fleet, and it says so', () => {
    const s = { ...settings, MAX_HOURLY_COST_USD: 2.5 };
    const r = decide(input({ queued: 10, fleet: [worker('a', 'active', 10)].map((w) => ({ ...w })), settings: s }));
    expect(r).toMatchObject({ desired: 1, decision: 'MAINTAIN', delta: 0 });
    expect(r.reasons.join('\n')).toMatch(/price of a new worker is unknown .*nothing spawned beyond the current fleet/);
    // without the cap, unknown prices change nothing
    expect(decide(input({ queued: 10 })).desired).toBe(10);
  });
});

describe('a drain in the reasons', () => {
  const DRAIN = 'draining by ana@ops-1 at 18:01 UTC: moving to pool b';
  test('names the drain, not a setting "drain=0" that does not exist', () => {
    // two workers hold tasks (active 2, no per-worker activity), one is idle since 10 s
    const r = decide(
      input({
        active: 2,
        drain: DRAIN,
        fleet: [worker('a', 'active', 600), worker('b', 'active', 600), worker('c', 'active', 10)],
      }),
    );
    expect(r).toMatchObject({ desired: 0, decision: 'SCALE_DOWN', delta: 1 });
    expect(r.terminate.map((t) => t.reason)).toEqual(['idle 600s, draining (no idle timeout)']);
    expect(r.reasons).toEqual([
      ...r.reasons.slice(0, r.reasons.length - 4),
      'desired 0 < current 3: terminate 1 idle worker(s), least recently used first',
      '2 worker(s) over desired kept: draining, but still spawning or holding a task',
      'drain changed desired from 2 to 0',
      `capped to 0 workers by a drain: ${DRAIN}`,
    ]);
    expect(r.reasons.join('\n')).not.toContain('drain=0');
  });
});
