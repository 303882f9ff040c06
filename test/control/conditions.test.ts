import type { ConditionState, ConditionType } from '../../events/condition';
import { appRegistry } from '../../events/index';
import {
  blocksReadiness,
  conditionEventText,
  conditionText,
  nextConditions,
  recordedConditions,
} from '../../src/control/conditions';
import { explain } from '../../src/explain/explain';
import { HttpEndpoint } from '../../src/observe/http';
import { type PodInfo, type Provider, ProviderError, type SpawnRequest } from '../../src/providers/provider';
import { SimulatedProvider } from '../../src/providers/simulated';
import { memoryBackend, pgliteBackend } from '../helpers/backends';
import { decided, type Harness, harness, type ScriptedSource } from '../helpers/harness';
import { parseScrape } from '../helpers/prometheus';

const AT = '2026-11-27T18:00:00.000Z';
const later = (sec: number) => new Date(Date.parse(AT) + sec * 1000).toISOString();
const none = new Map<ConditionType, ConditionState>();
const byType = (cs: ConditionState[]) => new Map(cs.map((c) => [c.type, c]));

describe('nextConditions (pure)', () => {
  test('the first cycle records every condition it looked at', () => {
    const { conditions, changes } = nextConditions(none, {
      at: AT,
      spawning: { stop: null, recovered: null },
      limits: [],
      source: { name: 'scripted', ok: true },
    });
    expect(conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['AbleToScale', 'True', 'SpawningAllowed'],
      ['ScalingLimited', 'False', 'DesiredWithinRange'],
      ['SourceHealthy', 'True', 'TaskCountAccepted'],
    ]);
    expect(changes.map((c) => c.previous)).toEqual([null, null, null]);
    expect(conditions.every((c) => c.since === AT)).toBe(true);
  });

  test('StoreCurrent: False naming who holds the catch-up reads back, True again when nobody does', () => {
    const who = 'pid 4242, login gpu_scaler_reader, open since 2026-12-01T11:59:00.000Z (60 s, idle in transaction)';
    const held = nextConditions(none, { at: AT, store: { heldBackBy: who } });
    expect(held.conditions).toEqual([
      expect.objectContaining({ type: 'StoreCurrent', status: 'False', reason: 'ReadsHeldBack' }),
    ]);
    expect(held.conditions[0]?.message).toContain('pid 4242, login gpu_scaler_reader');
    expect(blocksReadiness(held.conditions[0]!)).toBe(false);
    const clear = nextConditions(byType(held.conditions), { at: later(30), store: { heldBackBy: null } });
    expect(clear.changes.map((c) => [c.condition.status, c.condition.reason, c.previous?.reason])).toEqual([
      ['True', 'ReadsCurrent', 'ReadsHeldBack'],
    ]);
  });

  test('a refusal: False with which refusal, kept (since unchanged) while it lasts, then True on recovery', () => {
    const first = nextConditions(none, { at: AT, spawning: { stop: null, recovered: null } }).conditions;
    const stop = {
      kind: 'refusal' as const,
      refusal: 'auth' as const,
      error: '401 Unauthorized',
      provider: 'runpod',
      probeEveryCycles: 3,
    };
    const refused = nextConditions(byType(first), { at: later(30), spawning: { stop, recovered: null } });
    expect(refused.changes).toHaveLength(1);
    const able = refused.conditions[0];
    expect(able).toMatchObject({
      type: 'AbleToScale',
      status: 'False',
      reason: 'ProviderAuthRefused',
      since: later(30),
    });
    expect(able?.message).toContain('401 Unauthorized');
    expect(able?.message).not.toMatch(/restart\b(?! )/);
    // the same refusal next cycle: no change, the condition as it was
    const still = nextConditions(byType(refused.conditions), { at: later(60), spawning: { stop, recovered: null } });
    expect(still.changes).toEqual([]);
    expect(still.conditions[0]).toEqual(able);
    // billing now: the reason changes, the status (and its since) does not
    const billing = nextConditions(byType(still.conditions), {
      at: later(90),
      spawning: { stop: { ...stop, refusal: 'billing' }, recovered: null },
    });
    expect(billing.changes.map((c) => [c.condition.reason, c.condition.since, c.previous?.reason])).toEqual([
      ['ProviderBillingRefused', later(30), 'ProviderAuthRefused'],
    ]);
    const back = nextConditions(byType(billing.conditions), {
      at: later(120),
      spawning: { stop: null, recovered: { provider: 'runpod' } },
    });
    expect(back.changes).toHaveLength(1);
    expect(back.changes[0]?.condition).toMatchObject({
      status: 'True',
      reason: 'ProviderRecovered',
      since: later(120),
    });
    expect(back.changes[0]?.previous).toMatchObject({ status: 'False', since: later(30) });
    expect(conditionEventText({ ...back.changes[0]!.condition, previous: back.changes[0]!.previous })).toContain(
      'ended AbleToScale=False (ProviderBillingRefused) after 1m 30s',
    );
  });

  test('every placement candidate backing off: AbleToScale=False (CapacityBackoff) until when, then True again', () => {
    const stop = {
      kind: 'capacity' as const,
      until: '2026-12-01T12:05:00.000Z',
      why: 'NVIDIA A40 (any data center): no capacity 3 times in a row',
      provider: 'runpod',
    };
    const off = nextConditions(none, { at: AT, spawning: { stop, recovered: null } });
    expect(off.conditions[0]).toMatchObject({ type: 'AbleToScale', status: 'False', reason: 'CapacityBackoff' });
    expect(off.conditions[0]?.message).toContain('backing off until 2026-12-01T12:05:00.000Z');
    const on = nextConditions(byType(off.conditions), { at: later(300), spawning: { stop: null, recovered: null } });
    expect(on.conditions[0]).toMatchObject({ status: 'True', reason: 'SpawningAllowed' });
  });

  test('the circuit breaker: CircuitBreakerOpen, then CircuitBreakerClosed', () => {
    const breaker = { kind: 'breaker' as const, windowSec: 300, failureRatio: 0.8, minSpawns: 5 };
    const open = nextConditions(none, { at: AT, spawning: { stop: breaker, recovered: null } });
    expect(open.conditions[0]).toMatchObject({ status: 'False', reason: 'CircuitBreakerOpen' });
    const closed = nextConditions(byType(open.conditions), {
      at: later(30),
      spawning: { stop: null, recovered: null },
    });
    expect(closed.conditions[0]).toMatchObject({ status: 'True', reason: 'CircuitBreakerClosed' });
  });

  test('ScalingLimited names the cap or floor that bound, and ignores limits that changed nothing', () => {
    const capped = nextConditions(none, {
      at: AT,
      limits: [
        { name: 'MAX_WORKERS', kind: 'cap', unit: 'workers', value: 10, from: 51, to: 10 },
        { name: 'MAX_ACTIVE_GPUS', kind: 'cap', unit: 'GPUs', value: 4, from: 10, to: 4 },
      ],
    });
    expect(capped.conditions[0]).toMatchObject({ type: 'ScalingLimited', status: 'True', reason: 'GpuBudget' });
    expect(capped.conditions[0]?.message).toContain('MAX_WORKERS=10, MAX_ACTIVE_GPUS=4');
    const spend = nextConditions(none, {
      at: AT,
      limits: [{ name: 'MAX_HOURLY_COST_USD', kind: 'cap', unit: 'USD/h', value: 2.5, from: 6, to: 3 }],
    });
    expect(spend.conditions[0]).toMatchObject({ status: 'True', reason: 'SpendCap' });
    // a floor of a new policy renders as a floor (its recorded kind), whatever its name
    const floor = nextConditions(none, {
      at: AT,
      limits: [{ name: 'KEDA_MIN_REPLICAS', kind: 'floor', unit: 'workers', value: 2, from: 0, to: 2 }],
    });
    expect(floor.conditions[0]).toMatchObject({ status: 'True', reason: 'TooFewWorkers' });
    const within = nextConditions(none, {
      at: AT,
      limits: [{ name: 'MAX_WORKERS', kind: 'cap', unit: 'workers', value: 10, from: 10, to: 10 }],
    });
    expect(within.conditions[0]).toMatchObject({ status: 'False', reason: 'DesiredWithinRange' });
  });

  test('SourceHealthy: False while counts are rejected, one change when it begins and one when it ends', () => {
    const bad = nextConditions(none, {
      at: AT,
      source: { name: 'http', ok: false, reason: 'task source http timed out after 5000 ms' },
    });
    expect(bad.conditions[0]).toMatchObject({ status: 'False', reason: 'SourceTimedOut' });
    const again = nextConditions(byType(bad.conditions), {
      at: later(30),
      source: { name: 'http', ok: false, reason: 'task source http timed out after 5000 ms' },
    });
    expect(again.changes).toEqual([]);
    const ok = nextConditions(byType(again.conditions), { at: later(60), source: { name: 'http', ok: true } });
    expect(ok.changes.map((c) => [c.condition.status, c.previous?.status])).toEqual([['True', 'False']]);
  });

  test('readiness: AbleToScale=False and SourceHealthy=False block it; ScalingLimited never does', () => {
    const c = (type: ConditionType, status: 'True' | 'False'): ConditionState => ({
      type,
      status,
      reason: 'X',
      message: '',
      since: AT,
    });
    expect(blocksReadiness(c('AbleToScale', 'False'))).toBe(true);
    expect(blocksReadiness(c('SourceHealthy', 'False'))).toBe(true);
    expect(blocksReadiness(c('ScalingLimited', 'True'))).toBe(false);
    expect(blocksReadiness(c('AbleToScale', 'True'))).toBe(false);
    expect(conditionText(c('AbleToScale', 'False'), new Date(later(200)))).toBe(
      'AbleToScale=False (X) since 2026-11-27 18:00:00 UTC (for 3m 20s): ',
    );
  });
});

test.each([
  ['memory', memoryBackend],
  ['pglite', pgliteBackend],
])('the recorded conditions are the last change of each type (%s store)', async (_name, backend) => {
  const store = await backend().open(appRegistry);
  try {
    expect(await recordedConditions(store)).toEqual([]);
    const change = (cycle: number, type: ConditionType, status: 'True' | 'False', reason: string) => ({
      type: 'ConditionChanged' as const,
      data: { cycle, at: later(cycle), type, status, reason, message: reason, since: later(cycle), previous: null },
    });
    await store.append('controller', [
      change(1, 'AbleToScale', 'True', 'SpawningAllowed'),
      change(1, 'SourceHealthy', 'True', 'TaskCountAccepted'),
    ]);
    await store.append('controller', [change(2, 'AbleToScale', 'False', 'ProviderAuthRefused')]);
    expect((await recordedConditions(store)).map((c) => [c.type, c.status, c.reason, c.since])).toEqual([
      ['AbleToScale', 'False', 'ProviderAuthRefused', later(2)],
      ['SourceHealthy', 'True', 'TaskCountAccepted', later(1)],
    ]);
  } finally {
    await store.close();
  }
});

/** A provider that refuses every call (spawn and list) while `refusing` is set: a revoked key, an empty balance. */
class RefusingProvider implements Provider {
  readonly name = 'refusing';
  readonly gpusPerWorker = 1;
  refusing: ProviderError | null = null;
  spawnCalls = 0;
  listCalls = 0;
  constructor(private readonly inner: SimulatedProvider) {}
  async spawn(req: SpawnRequest): Promise<PodInfo> {
    this.spawnCalls += 1;
    if (this.refusing) throw this.refusing;
    return this.inner.spawn(req);
  }
  async terminate(podId: string): Promise<void> {
    return this.inner.terminate(podId);
  }
  async list(): Promise<PodInfo[]> {
    this.listCalls += 1;
    if (this.refusing) throw this.refusing;
    return this.inner.list();
  }
}

describe('a provider refusal heals when its cause does, without a restart', () => {
  let h: Harness & { source: ScriptedSource };
  let provider: RefusingProvider;

  beforeEach(async () => {
    const inner = new SimulatedProvider({
      clock: { now: () => new Date(AT), sleep: async () => {} },
      startupMinSec: 5,
      startupMaxSec: 10,
      failureRate: 0,
      seed: 1,
    });
    provider = new RefusingProvider(inner);
    h = await harness(pgliteBackend(), { provider });
  });
  afterEach(() => h.close());

  const able = async () => (await recordedConditions(h.store)).find((c) => c.type === 'AbleToScale');

  test('401: AbleToScale goes False then True, spawning resumes, events record both', async () => {
    const endpoint = new HttpEndpoint({
      store: h.store,
      host: '127.0.0.1',
      port: 0,
      now: () => h.clock.now(),
      refreshSec: 30,
      readiness: async () => ({ role: { ok: true, detail: 'leading' } }),
      conditions: () => h.system.controller.conditions(),
    });
    const { port } = await endpoint.start();
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: res.status, text: await res.text() };
    };
    try {
      await refusedThenHealed(get);
    } finally {
      await endpoint.stop();
    }
  });

  async function refusedThenHealed(get: (path: string) => Promise<{ status: number; text: string }>) {
    provider.refusing = new ProviderError('auth', 'the provider answered 401 Unauthorized: check the key');
    h.source.set(2);
    await h.cycle(); // cycle 1: SCALE_UP 2; the reactor's first spawn is refused, the second not tried
    expect((await h.events('WorkerSpawnFailed')).map((e) => e.data.kind)).toEqual(['auth', 'blocked']);
    const c2 = decided(await h.cycle()); // cycle 2: the guard sees the refusal
    expect(c2.decision.decision).toBe('MAINTAIN');
    expect(c2.decision.spawnBlocked).toMatch(/refused our credentials/);
    expect(c2.anomalies.map((a) => a.kind)).toEqual(['provider_auth_failed']);
    expect(await able()).toMatchObject({ status: 'False', reason: 'ProviderAuthRefused' });
    expect(h.stdout.text).toContain('CONDITION AbleToScale=False (ProviderAuthRefused)');
    // /readyz: not ready, naming the condition; the metric and the dashboard's state say the same
    const notReady = await get('/readyz');
    expect(notReady.status).toBe(503);
    const body = JSON.parse(notReady.text);
    expect(body.reasons).toEqual([expect.stringMatching(/^scaling: AbleToScale=False \(ProviderAuthRefused\)/)]);
    expect(body.conditions.map((c: ConditionState) => `${c.type}=${c.status}`)).toEqual([
      'AbleToScale=False',
      'ScalingLimited=False',
      'SourceHealthy=True',
      'StoreCurrent=True',
    ]);
    const scrape = parseScrape((await get('/metrics')).text);
    expect(scrape.value('gpu_scaler_condition', { type: 'AbleToScale', status: 'False' })).toBe(1);
    expect(scrape.value('gpu_scaler_condition', { type: 'AbleToScale', status: 'True' })).toBe(0);
    const state = JSON.parse((await get('/api/state')).text);
    expect(state.conditions[0]).toMatchObject({ type: 'AbleToScale', status: 'False', reason: 'ProviderAuthRefused' });
    expect(state.conditions[0].text).toMatch(/^AbleToScale=False \(ProviderAuthRefused\) since /);

    // still refused: probes (cycle 5) fail, nothing is spawned
    await h.cycle();
    await h.cycle();
    const c5 = decided(await h.cycle());
    expect(c5.decision.spawnBlocked).not.toBeNull();
    expect(provider.spawnCalls).toBe(1);
    expect(h.stdout.text).toContain('still refuses a read');

    // the key is fixed on the provider's side: the next probe (cycle 8) succeeds and spawning resumes
    provider.refusing = null;
    await h.cycle();
    await h.cycle();
    const c8 = decided(await h.cycle());
    expect(c8.decision.spawnBlocked).toBeNull();
    expect(c8.decision.decision).toBe('SCALE_UP');
    expect((await h.events('WorkerSpawned')).length).toBe(2);
    expect(await able()).toMatchObject({ status: 'True', reason: 'ProviderRecovered' });
    expect((await get('/readyz')).status).toBe(200);
    expect(
      parseScrape((await get('/metrics')).text).value('gpu_scaler_condition', { type: 'AbleToScale', status: 'True' }),
    ).toBe(1);

    const changes = (await h.events('ConditionChanged')).filter((e) => e.data.type === 'AbleToScale');
    expect(changes.map((e) => [e.data.cycle, e.data.status, e.data.reason])).toEqual([
      [1, 'True', 'SpawningAllowed'],
      [2, 'False', 'ProviderAuthRefused'],
      [8, 'True', 'ProviderRecovered'],
    ]);
    expect(changes[2]?.data.previous).toMatchObject({ status: 'False', since: changes[1]?.data.at });
    // explain and events say when it began and ended
    const lines = explain(await h.events()).timeline.map((l) => l.text);
    expect(lines).toContainEqual(expect.stringMatching(/^🚦 CONDITION AbleToScale=False \(ProviderAuthRefused\)/));
    expect(lines).toContainEqual(
      expect.stringMatching(
        /AbleToScale=True \(ProviderRecovered\).*ended AbleToScale=False \(ProviderAuthRefused\) after 3m/,
      ),
    );
  }

  test('a restart while stopped keeps spawning stopped until a probe succeeds', async () => {
    provider.refusing = new ProviderError('billing', '402 Payment Required');
    h.source.set(1);
    await h.cycle();
    await h.cycle();
    expect(await able()).toMatchObject({ status: 'False', reason: 'ProviderBillingRefused' });
    const sys = await h.restart({ provider });
    await sys.controller.init();
    const out = decided(await sys.step()); // first cycle after the restart: probed, still refused
    expect(out.decision.spawnBlocked).toMatch(/bill/);
    expect(sys.controller.conditions().find((c) => c.type === 'AbleToScale')?.status).toBe('False');
    provider.refusing = null;
    let resumed = false;
    for (let i = 0; i < 4 && !resumed; i++) {
      h.clock.advance(30_000);
      resumed = decided(await sys.step()).decision.spawnBlocked === null;
    }
    expect(resumed).toBe(true);
    expect(sys.controller.conditions().find((c) => c.type === 'AbleToScale')).toMatchObject({
      status: 'True',
      reason: 'ProviderRecovered',
    });
  });

  test('a refusal again right after resuming doubles the probe interval', async () => {
    provider.refusing = new ProviderError('billing', '402 Payment Required');
    h.source.set(1);
    await h.cycle(); // 1: refused
    await h.cycle(); // 2: stopped, probe at 5
    provider.refusing = null;
    await h.cycle(); // 3
    await h.cycle(); // 4
    // a read succeeds but the spawn is refused again (the balance was not topped up)
    const spawnOnly = new ProviderError('billing', '402 Payment Required');
    const list = provider.list.bind(provider);
    provider.spawn = async () => {
      provider.spawnCalls += 1;
      throw spawnOnly;
    };
    provider.list = list;
    expect(decided(await h.cycle()).decision.spawnBlocked).toBeNull(); // 5: probe ok, resumes, spawn refused
    const c6 = decided(await h.cycle()); // 6: stopped again
    expect(c6.anomalies[0]?.figures.probeEveryCycles).toBe(6);
    const calls = provider.spawnCalls;
    for (let i = 0; i < 5; i++) await h.cycle(); // 7..11: no probe before cycle 12
    expect(provider.spawnCalls).toBe(calls);
  });
});
