import { loadConfig } from '../../src/config';
import { configuredPolicy } from '../../src/control/steps/decide';
import { choosePolicy, POLICIES } from '../../src/policies/index';
import type { PastObservation, PolicyView } from '../../src/policies/policy';
import { policyMath } from '../../src/policies/render';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const ago = (sec: number) => new Date(NOW.getTime() - sec * 1000).toISOString();
const obs = (secAgo: number, queued: number, active = 0): PastObservation => ({ at: ago(secAgo), queued, active });

const view = (over: Partial<PolicyView> & { total?: number; busy?: number } = {}): PolicyView => {
  const total = over.total ?? 0;
  const busy = over.busy ?? 0;
  return {
    now: NOW,
    cycle: 1,
    queued: 0,
    active: 0,
    workers: { total, active: total, spawning: 0, busy, idle: total - busy },
    gpusPerWorker: 1,
    recent: [],
    ...over,
  };
};

/** A policy's decision with its settings parsed from text, as the environment gives them. */
const decide = (name: string, v: PolicyView, settings: Record<string, string> = {}) => {
  const p = choosePolicy(name, settings);
  return p.policy.decide(v, p.settings);
};

describe('operators (today’s rule, unchanged)', () => {
  test('max of the floor, the tasks and busy + spares, with its math', () => {
    const d = decide('operators', view({ queued: 51 }));
    expect(d.desired).toBe(51);
    expect(policyMath(d, d.desired)).toBe(
      'max(MIN_ACTIVE_GPUS=0, ceil(51 / TASKS_PER_GPU=1) = 51, busy 0 + MACHINES_TO_KEEP_IDLE=0 = 0) = 51',
    );
    expect(decide('operators', view({ queued: 5 }), { TASKS_PER_GPU: '2' }).desired).toBe(3);
    expect(decide('operators', view({ total: 3, busy: 2 }), { MACHINES_TO_KEEP_IDLE: '1' }).desired).toBe(3);
  });

  test('MIN_ACTIVE_GPUS is GPUs: a floor in workers of G GPUs, recorded as a floor', () => {
    const d = decide('operators', view({ queued: 1, gpusPerWorker: 2 }), { MIN_ACTIVE_GPUS: '3' });
    expect(d.desired).toBe(2);
    expect(d.floors).toEqual([
      {
        name: 'MIN_ACTIVE_GPUS',
        value: 3,
        unit: 'GPUs',
        from: 1,
        to: 2,
        detail: 'ceil(3 GPUs / 2 GPUs per worker) = 2 workers',
      },
    ]);
  });

  test('it needs no history', () => {
    const p = choosePolicy('operators', {});
    expect(p.policy.lookbackSec(p.settings)).toBe(0);
  });
});

describe('keda', () => {
  test('ceil(tasks / KEDA_QUEUE_TARGET), queued and active counted', () => {
    expect(decide('keda', view({ queued: 7, active: 3 }), { KEDA_QUEUE_TARGET: '4' }).desired).toBe(3);
    expect(decide('keda', view({ queued: 0 })).desired).toBe(0);
    expect(decide('keda', view({ queued: 0 }), { KEDA_MIN_WORKERS: '2' }).desired).toBe(2);
  });

  test('a cool-down before scaling down: the largest need of the window is kept, older counts are not', () => {
    const recent = [obs(400, 9), obs(200, 6), obs(30, 2)];
    const d = decide('keda', view({ queued: 1, total: 6, recent }), { KEDA_COOLDOWN_SEC: '300' });
    expect(d.desired).toBe(6); // 9 tasks 400 s ago are outside the window
    expect(d.reasons[0]).toContain('KEDA_COOLDOWN_SEC=300');
    expect(policyMath(d, d.desired)).toBe(
      'max(KEDA_MIN_WORKERS=0, ceil(1 / KEDA_QUEUE_TARGET=1) = 1, largest need of 2 counts in KEDA_COOLDOWN_SEC=300 = 6) = 6',
    );
    // with no cool-down it follows the queue at once
    expect(decide('keda', view({ queued: 1, total: 6, recent }), { KEDA_COOLDOWN_SEC: '0' }).desired).toBe(1);
  });

  test('scaling up is immediate and its lookback is the cool-down', () => {
    expect(decide('keda', view({ queued: 20, total: 1, recent: [obs(10, 1)] })).desired).toBe(20);
    const p = choosePolicy('keda', { KEDA_COOLDOWN_SEC: '120' });
    expect(p.policy.lookbackSec(p.settings)).toBe(120);
  });
});

describe('hpa', () => {
  test('scale-up limited to max(100% of current, 4 workers) a cycle', () => {
    expect(decide('hpa', view({ queued: 20, total: 0 })).desired).toBe(4);
    expect(decide('hpa', view({ queued: 20, total: 6 })).desired).toBe(12);
    expect(
      decide('hpa', view({ queued: 20, total: 6 }), { HPA_SCALE_UP_MAX_PERCENT: '50', HPA_SCALE_UP_MAX_WORKERS: '1' })
        .desired,
    ).toBe(9);
  });

  test('within HPA_TOLERANCE of the target nothing changes', () => {
    expect(decide('hpa', view({ queued: 21, total: 20 })).desired).toBe(20);
    expect(decide('hpa', view({ queued: 21, total: 20 }), { HPA_TOLERANCE: '0' }).desired).toBe(21);
  });

  test('scale-down stabilization: the largest recommendation of the window', () => {
    const recent = [obs(600, 10), obs(120, 8), obs(60, 5)];
    expect(decide('hpa', view({ queued: 2, total: 10, recent })).desired).toBe(8);
    const d = decide('hpa', view({ queued: 2, total: 10, recent }), { HPA_SCALE_DOWN_STABILIZATION_SEC: '90' });
    expect(d.desired).toBe(5);
    expect(
      decide('hpa', view({ queued: 2, total: 10, recent }), { HPA_SCALE_DOWN_STABILIZATION_SEC: '0' }).desired,
    ).toBe(2);
  });

  test('scale-up stabilization: the smallest recommendation of its window', () => {
    const recent = [obs(50, 3), obs(20, 9)];
    expect(decide('hpa', view({ queued: 9, total: 2, recent }), { HPA_SCALE_UP_STABILIZATION_SEC: '60' }).desired).toBe(
      3,
    );
  });
});

describe('the registry', () => {
  test('every policy has a name matching its key, a description and settings with defaults', () => {
    for (const [key, p] of Object.entries(POLICIES)) {
      expect(p.name).toBe(key);
      expect(p.description.length).toBeGreaterThan(10);
      expect(() => choosePolicy(key, {})).not.toThrow();
      for (const k of Object.keys(p.settings.shape)) expect(k).toMatch(/^[A-Z][A-Z0-9_]*$/);
    }
  });

  test('a bad setting or name: an error naming it and what is allowed', () => {
    expect(() => choosePolicy('keda', { KEDA_QUEUE_TARGET: '0' })).toThrow(
      'policy keda: KEDA_QUEUE_TARGET="0" is not allowed: expected a number >= 0.0001',
    );
    expect(() => choosePolicy('hpa', { HPA_SCALE_UP_MAX_WORKERS: 'many' })).toThrow(/HPA_SCALE_UP_MAX_WORKERS="many"/);
    expect(() => choosePolicy('nope', {})).toThrow('unknown policy "nope": expected one of operators, keda, hpa');
  });
});

describe('POLICY in the configuration', () => {
  test('default by default; the chosen policy gets its settings from the environment', () => {
    expect(configuredPolicy(loadConfig({})).policy.name).toBe('default');
    expect(configuredPolicy(loadConfig({ POLICY: 'operators' })).policy.name).toBe('operators');
    const p = configuredPolicy(loadConfig({ POLICY: 'keda', KEDA_QUEUE_TARGET: '4', KEDA_COOLDOWN_SEC: '60' }));
    expect(p.policy.name).toBe('keda');
    expect(p.settings).toEqual({ KEDA_QUEUE_TARGET: 4, KEDA_COOLDOWN_SEC: 60, KEDA_MIN_WORKERS: 0 });
  });

  test('settings of another policy with POLICY unset: an error naming the policy to set, not a silent switch', () => {
    expect(() => loadConfig({ MIN_ACTIVE_GPUS: '2' })).toThrow(
      'MIN_ACTIVE_GPUS is a setting of POLICY=operators, but POLICY is unset and the default policy is default: set POLICY=operators to keep that rule, or remove it to use default',
    );
    expect(() => loadConfig({ TASKS_PER_GPU: '2', MACHINES_TO_KEEP_IDLE: '1', KEDA_COOLDOWN_SEC: '60' })).toThrow(
      /TASKS_PER_GPU, MACHINES_TO_KEEP_IDLE are settings of POLICY=operators[^\n]*\n {2}- KEDA_COOLDOWN_SEC is a setting of POLICY=keda/,
    );
    expect(loadConfig({ POLICY: 'operators', MIN_ACTIVE_GPUS: '2' }).MIN_ACTIVE_GPUS).toBe(2);
    expect(configuredPolicy(loadConfig({ WARM_HEADROOM: '1' })).settings).toMatchObject({ WARM_HEADROOM: 1 });
    expect(() => loadConfig({ POLICY: 'default', KEDA_COOLDOWN_SEC: '60' })).not.toThrow();
  });

  test('an idle timeout the operator set holds under a policy with its own (default: WARM_IDLE_SEC)', () => {
    const idle = (env: Record<string, string>) => configuredPolicy(loadConfig(env)).settings.WARM_IDLE_SEC;
    expect(idle({})).toBe(240);
    expect(idle({ GPU_IDLE_TIMEOUT_SEC: '900' })).toBe(900);
    expect(idle({ GPU_IDLE_TIMEOUT_SEC: '900', WARM_IDLE_SEC: '120' })).toBe(120);
    expect(loadConfig({ POLICY: 'operators', GPU_IDLE_TIMEOUT_SEC: '900' }).WARM_IDLE_SEC).toBe(240);
  });

  test("settings of a policy not in use are not validated; the chosen one's are", () => {
    expect(() => loadConfig({ POLICY: 'operators', KEDA_QUEUE_TARGET: 'lots' })).not.toThrow();
    expect(() => loadConfig({ POLICY: 'keda', KEDA_QUEUE_TARGET: 'lots' })).toThrow(
      'KEDA_QUEUE_TARGET="lots" is not allowed',
    );
    expect(() => loadConfig({ POLICY: 'keda', MIN_ACTIVE_GPUS: '20', MAX_ACTIVE_GPUS: '4' })).not.toThrow();
    expect(() => loadConfig({ POLICY: 'nope' })).toThrow(
      'POLICY="nope" is not allowed: expected one of "operators", "keda", "hpa"',
    );
  });
});
