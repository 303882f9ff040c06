import type { Clock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { conclude, explain } from '../../src/explain/explain';
import {
  clientPodApi,
  KubernetesProvider,
  kubernetesPodShape,
  kubernetesProviderFromConfig,
  LABEL_IDEMPOTENCY_KEY,
  LABEL_MANAGED_BY,
  LABEL_WORKER_ID,
} from '../../src/providers/kubernetes/index';
import { ProviderError, type SpawnRequest } from '../../src/providers/provider';
import { makeProvider } from '../../src/system';
import { FakeKubeApi, UNSCHEDULABLE_MESSAGE } from '../fakes/kube-api';
import { pgliteBackend } from '../helpers/backends';
import { harness } from '../helpers/harness';

// The Kubernetes provider with the real @kubernetes/client-node against a local fake API server.

const NS = 'gpu';
const IMAGE = 'ghcr.io/acme/gpu-worker:1.2.3';
let api: FakeKubeApi;
const savedKubeconfig = process.env.KUBECONFIG;

beforeEach(async () => {
  api = await new FakeKubeApi({ namespace: NS }).start();
  process.env.KUBECONFIG = api.kubeconfig;
});
afterEach(async () => {
  await api.stop();
  if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
  else process.env.KUBECONFIG = savedKubeconfig;
});

function recordingClock(): { clock: Clock; sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    clock: {
      now: () => new Date('2026-12-01T12:00:00.000Z'),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    },
  };
}

const env = (over: Record<string, string> = {}) => ({
  PROVIDER: 'kubernetes',
  K8S_NAMESPACE: NS,
  K8S_IMAGE: IMAGE,
  K8S_GPU_COUNT: '1',
  ...over,
});

function setup(over: Record<string, string> = {}) {
  const { clock, sleeps } = recordingClock();
  const cfg = loadConfig(env(over));
  const provider = new KubernetesProvider({
    api: clientPodApi(),
    namespace: NS,
    shape: kubernetesPodShape(cfg),
    terminationGraceSec: cfg.K8S_TERMINATION_GRACE_SEC,
    clock,
    random: () => 0.5,
    retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
  });
  return { provider, sleeps };
}

const spawnReq = (key = 'c7-1-ab12cd'): SpawnRequest => ({
  workerId: key,
  idempotencyKey: key,
  env: { GPU_SCALER_WORKER_ID: key },
});

async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProviderError) return err;
    throw err;
  }
  throw new Error('expected a ProviderError');
}

describe('the provider', () => {
  test('spawn creates a named, labelled pod with the GPU limit; a retry after a crash finds it (409)', async () => {
    const { provider } = setup();
    const pod = await provider.spawn(spawnReq());
    expect(pod).toMatchObject({
      podId: 'gpu-scaler-c7-1-ab12cd',
      workerId: 'c7-1-ab12cd',
      idempotencyKey: 'c7-1-ab12cd',
      status: 'running',
      gpuCount: 1,
    });
    expect(pod.existing).toBeUndefined();
    const created = api.calls('create')[0].body as {
      metadata: { name: string; labels: Record<string, string> };
      spec: {
        restartPolicy: string;
        containers: { image: string; env: unknown[]; resources: { limits: Record<string, string> } }[];
      };
    };
    expect(created.metadata.name).toBe('gpu-scaler-c7-1-ab12cd');
    expect(created.metadata.labels).toEqual({
      [LABEL_MANAGED_BY]: 'gpu-scaler',
      [LABEL_WORKER_ID]: 'c7-1-ab12cd',
      [LABEL_IDEMPOTENCY_KEY]: 'c7-1-ab12cd',
    });
    expect(created.spec.restartPolicy).toBe('Never');
    expect(created.spec.containers[0]).toMatchObject({
      image: IMAGE,
      env: [{ name: 'GPU_SCALER_WORKER_ID', value: 'c7-1-ab12cd' }],
      resources: { limits: { 'nvidia.com/gpu': '1' } },
    });

    const again = await provider.spawn(spawnReq());
    expect(again).toMatchObject({ podId: 'gpu-scaler-c7-1-ab12cd', existing: true });
    expect(api.calls('create').map((r) => r.status)).toEqual([201, 409]);
    expect(api.names()).toEqual(['gpu-scaler-c7-1-ab12cd']);
  });

  test('list selects our pods by label; terminate deletes with the grace period; a gone pod is fine', async () => {
    const { provider } = setup({ K8S_TERMINATION_GRACE_SEC: '45' });
    await provider.spawn(spawnReq('k1'));
    api.put({ metadata: { name: 'someone-elses', namespace: NS, labels: { app: 'web' } } });
    api.put({ metadata: { name: 'gpu-scaler-k9', namespace: 'other', labels: { [LABEL_MANAGED_BY]: 'gpu-scaler' } } });
    expect((await provider.list()).map((p) => p.podId)).toEqual(['gpu-scaler-k1']);
    expect(api.calls('list')[0].query.get('labelSelector')).toBe('app.kubernetes.io/managed-by=gpu-scaler');
    await provider.terminate('gpu-scaler-k1');
    expect(api.calls('delete')[0].query.get('gracePeriodSeconds')).toBe('45');
    expect(api.names()).toEqual(['gpu-scaler-k9', 'someone-elses']);
    await expect(provider.terminate('gpu-scaler-k1')).resolves.toBeUndefined();
  });

  test('403 from RBAC is an auth refusal naming the verb and the resource', async () => {
    const { provider } = setup();
    api.forbidden.add('create');
    const err = await rejection(provider.spawn(spawnReq()));
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(/RBAC refused verb "create" on resource "pods" in namespace gpu: .*cannot create/);
    expect(api.calls('create')).toHaveLength(1);
    api.forbidden.clear();
    api.forbidden.add('delete');
    await provider.spawn(spawnReq('k2'));
    expect((await rejection(provider.terminate('gpu-scaler-k2'))).message).toMatch(/refused verb "delete"/);
  });

  test('429 honours Retry-After; 5xx backs off; both then succeed', async () => {
    const { provider, sleeps } = setup();
    api.fail('create', 429, 1, { retryAfter: '3' });
    api.fail('create', 503, 1);
    const pod = await provider.spawn(spawnReq());
    expect(pod.status).toBe('running');
    expect(sleeps).toEqual([3000, 150]);
    expect(api.calls('create').map((r) => r.status)).toEqual([429, 503, 201]);
  });

  test('5xx past the attempts is an error, never a refusal', async () => {
    const { provider } = setup();
    api.fail('list', 500, 3);
    const err = await rejection(provider.list());
    expect([err.kind, api.calls('list').length]).toEqual(['error', 3]);
  });

  test('an unschedulable pod is starting, and says the cluster had no GPU for it', async () => {
    const { provider } = setup();
    api.onCreate = 'unschedulable';
    const pod = await provider.spawn(spawnReq());
    expect(pod.status).toBe('starting');
    expect(pod.details).toMatchObject({ unschedulable: UNSCHEDULABLE_MESSAGE });
    expect(await provider.whyNotStarted(pod.podId)).toEqual({
      capacity: true,
      message: `the cluster had no GPU for it: ${UNSCHEDULABLE_MESSAGE}; no new worker pod before 2026-12-01T12:00:30.000Z`,
    });
  });

  test('a Kubernetes Event on the pod says why it was made and why it goes; a refused Event changes nothing', async () => {
    const logs: string[] = [];
    const { provider } = setup();
    await provider.spawn({ ...spawnReq('k1'), why: 'cycle #3 SCALE_UP: 4 queued' });
    await provider.terminate('gpu-scaler-k1', 'idle: idle 600s (cycle #9)');
    expect(api.events.map((e) => [e.involvedObject.name, e.reason, e.message, e.type])).toEqual([
      ['gpu-scaler-k1', 'GpuScalerSpawned', 'cycle #3 SCALE_UP: 4 queued', 'Normal'],
      ['gpu-scaler-k1', 'GpuScalerTerminating', 'idle: idle 600s (cycle #9)', 'Normal'],
    ]);
    api.forbidEvents = true;
    const quiet = new KubernetesProvider({
      api: clientPodApi(),
      namespace: NS,
      shape: kubernetesPodShape(loadConfig(env())),
      terminationGraceSec: 30,
      clock: recordingClock().clock,
      log: (level, message) => logs.push(`${level}: ${message}`),
    });
    expect((await quiet.spawn({ ...spawnReq('k2'), why: 'a' })).status).toBe('running');
    await quiet.spawn({ ...spawnReq('k3'), why: 'b' });
    expect(api.names()).toEqual(['gpu-scaler-k2', 'gpu-scaler-k3']);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^warning: kubernetes: could not record an Event on pod gpu-scaler-k2 \(403/);
  });

  test('made from the configuration by makeProvider', () => {
    const p = makeProvider(loadConfig(env({ K8S_GPU_COUNT: '2' })), recordingClock().clock);
    expect([p.name, p.gpusPerWorker]).toEqual(['kubernetes', 2]);
  });
});

describe('through the controller and reactor', () => {
  let h: Awaited<ReturnType<typeof harness>> | undefined;
  // one PGlite for these tests, started before them; each harness gets a fresh schema in it
  const pglite = pgliteBackend();
  beforeAll(() => pglite.ready?.(), 120_000);
  afterAll(() => pglite.teardown());
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  const hEnv = { GPU_IDLE_TIMEOUT_SEC: '0', RECONCILE_EVERY_CYCLES: '2' };
  const provider = (over: Record<string, string> = {}) =>
    kubernetesProviderFromConfig(loadConfig(env(over)), recordingClock().clock);

  test('scale up and down; an orphan is deleted; a pod deleted behind our back is a lost worker', async () => {
    h = await harness(pglite, { provider: provider(), env: hEnv });
    h.source.set(3);
    await h.cycle();
    expect(api.names()).toHaveLength(3);
    await h.cycle(); // the workers come up
    const [gone] = api.names();
    api.pods.delete(gone); // kubectl delete pod, by someone else
    api.put({
      metadata: {
        name: 'gpu-scaler-from-yesterday',
        namespace: NS,
        labels: { [LABEL_MANAGED_BY]: 'gpu-scaler', [LABEL_WORKER_ID]: 'y1' },
      },
    });
    await h.cycle();
    const lost = (await h.events('WorkerTerminated')).map((e) => e.data);
    expect(lost).toContainEqual(expect.objectContaining({ podId: gone, reason: 'lost', failed: true }));
    await h.cycle();
    expect(api.names()).not.toContain('gpu-scaler-from-yesterday');
    expect((await h.events('OrphanPodTerminated')).length).toBeGreaterThanOrEqual(1);
    h.source.set(0);
    for (let i = 0; i < 10 && api.names().length > 0; i++) await h.cycle();
    expect(api.names()).toEqual([]);
    // kubectl describe pod says why each one was made and removed
    const spawnedWhy = api.events.filter((e) => e.reason === 'GpuScalerSpawned').map((e) => e.message);
    expect(spawnedWhy).toHaveLength(4); // three, then one to replace the lost worker
    expect(spawnedWhy[0]).toMatch(/^cycle #1 SCALE_UP, worker 1 of 3: 3 queued \+ 0 active tasks, desired 3 worker/);
    expect(spawnedWhy[3]).toMatch(/^cycle #3 SCALE_UP, worker 1 of 1: .*desired 3 > current 2/);
    expect(api.events.filter((e) => e.reason === 'GpuScalerTerminating').length).toBeGreaterThanOrEqual(2);
  });

  test('unschedulable pods wait for capacity, time out, and are not worker failures', async () => {
    api.onCreate = 'unschedulable';
    h = await harness(pglite, {
      provider: provider(),
      env: { ...hEnv, SPAWNING_TIMEOUT_SEC: '60', CIRCUIT_BREAKER_MIN_SPAWNS: '2' },
    });
    h.source.set(2);
    for (let i = 0; i < 4; i++) await h.cycle();
    const ended = (await h.events('WorkerTerminated')).map((e) => e.data);
    expect(ended.length).toBeGreaterThanOrEqual(2);
    for (const t of ended) {
      expect(t).toMatchObject({ reason: 'spawning_timeout', failed: false });
      expect((t as { detail: string }).detail).toContain(`the cluster had no GPU for it: ${UNSCHEDULABLE_MESSAGE}`);
    }
    const anomalies = (await h.events('AnomalyDetected')).map((e) => e.data.kind);
    expect(anomalies).not.toContain('circuit_breaker_open');
    const ex = explain(await h.events(), {});
    const text = [...ex.timeline.map((l) => l.text), ...ex.cycles.map(conclude)].join('\n');
    expect(text).toContain('the cluster had no GPU for it');
  });

  test('403 on create stops spawning with a critical line and an anomaly', async () => {
    api.forbidden.add('create');
    h = await harness(pglite, { provider: provider(), env: hEnv });
    h.source.set(2);
    await h.cycle();
    const next = await h.cycle();
    if (next.kind !== 'decided') throw new Error('expected a decision');
    expect(next.anomalies.map((a) => a.kind)).toEqual(['provider_auth_failed']);
    expect(h.stdout.text).toMatch(/CRIT +❌ CRITICAL: .*RBAC refused verb "create" on resource "pods"/);
    await h.cycle();
    expect(api.calls('create')).toHaveLength(1);
  });
});
