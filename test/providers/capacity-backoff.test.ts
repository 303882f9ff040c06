import type { Clock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { capacityBlock } from '../../src/control/steps/spawn-guard';
import { CapacityBackoff } from '../../src/providers/capacity-backoff';
import { kubernetesProviderFromConfig } from '../../src/providers/kubernetes/index';
import { RunpodProvider } from '../../src/providers/runpod/index';
import { FakeKubeApi } from '../fakes/kube-api';
import { FakeRunpodApi } from '../fakes/runpod-api';
import { pgliteBackend, type TestBackend } from '../helpers/backends';
import { harness } from '../helpers/harness';

// Capacity exhaustion backs off (#23.2): per candidate, a capped exponential delay reset by a
// success; while every candidate backs off, no spawn is requested and the decision says until when.

/** A clock the test points at the harness's fake clock once the harness exists. */
function lateClock(): { clock: Clock; use(c: Clock): void } {
  let inner: Clock | null = null;
  return {
    clock: {
      now: () => (inner ? inner.now() : new Date()),
      sleep: (ms) => (inner ? inner.sleep(ms) : new Promise((r) => setTimeout(r, ms))),
    },
    use: (c) => {
      inner = c;
    },
  };
}

describe('CapacityBackoff', () => {
  const t0 = new Date('2026-12-01T12:00:00.000Z');
  const at = (sec: number) => new Date(t0.getTime() + sec * 1000);

  test('doubles per failure in a row, up to the cap; a success resets it', () => {
    const b = new CapacityBackoff({ baseMs: 30_000, maxMs: 100_000 });
    expect(b.failed('a', t0).until).toEqual(at(30));
    expect(b.failed('a', t0).until).toEqual(at(60));
    expect(b.failed('a', t0).until).toEqual(at(100));
    expect(b.failed('a', t0)).toEqual({ until: at(100), failures: 4 });
    expect(b.backingOff('a', at(99))).toEqual({ until: at(100), failures: 4 });
    expect(b.backingOff('a', at(100))).toBeNull();
    b.succeeded('a');
    expect(b.failed('a', t0).until).toEqual(at(30));
  });

  test('all: only when every candidate backs off, until the earliest of them', () => {
    const b = new CapacityBackoff({ baseMs: 30_000, maxMs: 600_000 });
    b.failed('a', t0);
    expect(b.all(['a', 'b'], t0)).toBeNull();
    b.failed('b', t0);
    b.failed('b', t0);
    expect(b.all(['a', 'b'], t0)?.until).toEqual(at(30));
    expect(b.all(['a', 'b'], at(30))).toBeNull();
    expect(b.all([], t0)).toBeNull();
    const none = new CapacityBackoff({ baseMs: 0, maxMs: 0 });
    none.failed('a', t0);
    expect(none.all(['a'], t0)).toBeNull();
  });

  test('capacityBlock: another block wins; else the backoff blocks with its time', () => {
    const state = { until: '2026-12-01T12:00:30.000Z', why: 'NVIDIA A40 (any data center): no capacity once in a row' };
    expect(
      capacityBlock({ why: 'circuit breaker open', anomalies: [], stop: null, recovered: null }, state, 'runpod').why,
    ).toBe('circuit breaker open');
    expect(capacityBlock({ why: null, anomalies: [], stop: null, recovered: null }, null, 'runpod').why).toBeNull();
    expect(capacityBlock({ why: null, anomalies: [], stop: null, recovered: null }, state, 'runpod').why).toBe(
      'no placement candidate has capacity: every one is backing off until 2026-12-01T12:00:30.000Z (NVIDIA A40 (any data center): no capacity once in a row)',
    );
  });
});

// One PGlite for the file (each harness gets a fresh schema on it): a new PGlite per test cost seconds
// of CPU each, and each was left open.
let backend: TestBackend;
beforeAll(async () => {
  backend = pgliteBackend();
  await backend.ready?.();
}, 120_000);
afterAll(async () => {
  await backend?.teardown();
});

describe('RunPod with no stock anywhere', () => {
  let api: FakeRunpodApi;
  let h: Awaited<ReturnType<typeof harness>> | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await api?.stop();
  });

  test('spawns are not requested again every cycle: each candidate backs off, the decision says until when, and stock back resets it', async () => {
    const KEY = 'rp_backoff_key_0123456789';
    api = await FakeRunpodApi.start({ apiKey: KEY, readyOnCreate: true });
    const none = { price: { secure: 0.5, community: 0.3 }, availability: 'NONE' as const };
    api.setGpu('NVIDIA A40', none).setGpu('NVIDIA L4', none);
    const late = lateClock();
    const provider = new RunpodProvider({
      apiKey: KEY,
      baseUrl: api.v2,
      gpuTypeIds: ['NVIDIA A40', 'NVIDIA L4'],
      image: 'ghcr.io/acme/worker:1',
      clock: late.clock,
      catalogTtlMs: 0,
    });
    h = await harness(backend, { provider });
    late.use(h.clock);
    h.source.set(3);
    // 20 cycles of 30 s: 10 minutes with no stock
    for (let i = 0; i < 20; i++) await h.cycle();
    const requested = await h.events('WorkerSpawnRequested');
    const decisions = (await h.events('ScalingDecided')).map((e) => e.data);
    // backoff 30, 60, 120, 240 s: 5 tries in 10 minutes, not 20
    expect(decisions.filter((d) => d.decision === 'SCALE_UP')).toHaveLength(5);
    const blocked = decisions.filter((d) => d.spawnBlocked?.startsWith('no placement candidate has capacity'));
    expect(blocked).toHaveLength(15);
    expect(blocked[0]?.spawnBlocked).toMatch(
      /every one is backing off until 2026-11-27T18:01:30\.000Z \(NVIDIA A40 \(any data center\): no capacity 2 times in a row; NVIDIA L4 \(any data center\): no capacity 2 times in a row\)/,
    );
    // one decision's spawns: the first tried, the rest not attempted
    expect(requested).toHaveLength(5 * 3);
    const anomalies = (await h.events('AnomalyDetected')).map((e) => e.data.kind);
    // a rapid scale-up only for the cycles that requested spawns, not for the blocked ones
    expect(anomalies.filter((k) => k === 'rapid_scale_up').length).toBeLessThanOrEqual(5);

    // stock is back: the next try places, and the backoff is reset
    api.setGpu('NVIDIA A40', { price: { secure: 0.5, community: 0.3 }, availability: 'HIGH' });
    for (let i = 0; i < 20 && (await h.events('WorkerSpawned')).length < 3; i++) await h.cycle();
    expect(await h.events('WorkerSpawned')).toHaveLength(3);
    expect(provider.capacityBackoff()).toBeNull();
  });
});

describe('Kubernetes with no room for a GPU pod', () => {
  const NS = 'gpu';
  let api: FakeKubeApi;
  let h: Awaited<ReturnType<typeof harness>> | undefined;
  const saved = process.env.KUBECONFIG;
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await api?.stop();
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  });

  test('a pod unschedulable at SPAWNING_TIMEOUT_SEC is removed and the pod shape backs off before the next create', async () => {
    api = await new FakeKubeApi({ namespace: NS }).start();
    process.env.KUBECONFIG = api.kubeconfig;
    api.onCreate = 'unschedulable';
    const late = lateClock();
    const cfg = loadConfig({
      PROVIDER: 'kubernetes',
      K8S_NAMESPACE: NS,
      K8S_IMAGE: 'ghcr.io/acme/w:1',
      K8S_GPU_COUNT: '1',
      K8S_CAPACITY_BACKOFF_BASE_SEC: '120',
    });
    h = await harness(backend, {
      provider: kubernetesProviderFromConfig(cfg, late.clock),
      env: { SPAWNING_TIMEOUT_SEC: '60' },
    });
    late.use(h.clock);
    h.source.set(1);
    for (let i = 0; i < 4; i++) await h.cycle();
    // created at cycle 1, given up on at cycle 4 (over 60 s), then no create for 120 s
    expect(api.calls('create')).toHaveLength(1);
    const ended = (await h.events('WorkerTerminated')).map((e) => e.data);
    expect(ended.map((t) => [t.reason, t.failed])).toEqual([['spawning_timeout', false]]);
    for (let i = 0; i < 3; i++) await h.cycle();
    expect(api.calls('create')).toHaveLength(1);
    const last = (await h.events('ScalingDecided')).map((e) => e.data).pop();
    expect(last?.spawnBlocked).toMatch(/^no placement candidate has capacity: every one is backing off until /);
    for (let i = 0; i < 3; i++) await h.cycle();
    expect(api.calls('create')).toHaveLength(2);
  });
});
