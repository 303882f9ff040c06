import type { Clock } from '../../src/clock';
import { ConfigError, loadConfig } from '../../src/config';
import { conclude, explain } from '../../src/explain/explain';
import { HttpTransport, parseRateLimit } from '../../src/providers/http/transport';
import { ProviderError, type SpawnRequest } from '../../src/providers/provider';
import {
  podStatusOf,
  type RunpodOptions,
  RunpodProvider,
  runpodOptionsFromConfig,
} from '../../src/providers/runpod/index';
import { makeProvider } from '../../src/system';
import { FakeRunpodApi } from '../fakes/runpod-api';
import { pgliteBackend } from '../helpers/backends';
import { harness } from '../helpers/harness';

// biome-ignore lint/suspicious/noExplicitAny: event data in assertions
type Any = any;

const KEY = 'rp_SECRET_key_do_not_leak_0042';
const RTX4090 = 'NVIDIA GeForce RTX 4090';
const A5000 = 'NVIDIA RTX A5000';
const IMAGE = 'ghcr.io/acme/gpu-worker:1.2.3';
const NOW = '2026-11-27T12:00:00.000Z';

let api: FakeRunpodApi;

afterEach(async () => {
  await api?.stop();
});

/** A clock whose sleep records the wait and returns at once. */
function recordingClock(now = NOW): { clock: Clock; sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    clock: {
      now: () => new Date(now),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    },
  };
}

async function start(opts: ConstructorParameters<typeof FakeRunpodApi>[0] = {}) {
  api = await FakeRunpodApi.start({ apiKey: KEY, ...opts });
  return api;
}

function setup(over: Partial<RunpodOptions> = {}) {
  const { clock, sleeps } = recordingClock();
  const logs: string[] = [];
  const provider = new RunpodProvider({
    apiKey: KEY,
    baseUrl: api.v2,
    gpuTypeIds: [RTX4090, A5000],
    image: IMAGE,
    env: { HF_HOME: '/workspace/hf' },
    clock,
    random: () => 0.5,
    retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
    requestTimeoutMs: 5000,
    log: (level, message) => logs.push(`${level}: ${message}`),
    ...over,
  });
  return { provider, sleeps, logs };
}

const spawnReq = (key = 'c7-1-ab12cd34', over: Partial<SpawnRequest> = {}): SpawnRequest => ({
  workerId: key,
  idempotencyKey: key,
  env: { GPU_SCALER_WORKER_ID: key },
  ...over,
});

async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a rejection');
}

const stocked = (
  secure: number,
  availability: 'NONE' | 'LOW' | 'HIGH' = 'HIGH',
  dataCenters?: Record<string, 'NONE' | 'LOW' | 'HIGH'>,
) => ({
  price: { secure, community: secure / 2 },
  availability,
  dataCenters,
});

describe('the fake validates create bodies against the v2 CreatePodRequest schema', () => {
  beforeEach(() => start());
  const post = (body: unknown) =>
    fetch(`${api.v2}/pods`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });

  test('an unknown field, a v1 field, a bad pattern and a small volume are refused with 422 and errors[]', async () => {
    const ok = await post({ name: 'x', image: IMAGE, gpu: { id: RTX4090, count: 1 } });
    expect(ok.status).toBe(201);
    for (const [body, needle] of [
      [{ name: 'x', image: IMAGE, gpu: { id: RTX4090 }, bogus: 1 }, 'unevaluated'],
      [{ name: 'x', imageName: IMAGE, gpu: { id: RTX4090 } }, 'image'],
      [{ name: 'x', image: IMAGE, gpu: { id: RTX4090, gpuCount: 2 } }, 'unevaluated'],
      [{ name: 'x', image: IMAGE, gpu: { id: RTX4090, minCudaVersion: '12' } }, 'pattern'],
      [
        { name: 'x', image: IMAGE, gpu: { id: RTX4090 }, mounts: { persistent: { size: 5, path: '/w' } } },
        'must be >= 10',
      ],
      [{ name: 'x', gpu: { id: RTX4090 } }, 'image'],
    ] as const) {
      const r = await post(body);
      expect(r.status).toBe(422);
      expect(r.headers.get('content-type')).toMatch(/problem\+json/);
      const p = (await r.json()) as Any;
      expect(p.errors.join(' ')).toContain(needle);
    }
    // templateId lifts the image requirement (if/then)
    expect((await post({ name: 'x', templateId: 't1', gpu: { id: RTX4090 } })).status).toBe(201);
  });

  test('handler rules: both mounts, both CUDA fields, neither gpu nor cpu answer 400', async () => {
    const both = await post({
      name: 'x',
      image: IMAGE,
      gpu: { id: RTX4090 },
      mounts: { persistent: { size: 20, path: '/w' }, network: [{ volumeId: 'v', path: '/n' }] },
    });
    expect(both.status).toBe(400);
    const cuda = await post({
      name: 'x',
      image: IMAGE,
      gpu: { id: RTX4090, allowedCudaVersions: ['12.8'], minCudaVersion: '12.1' },
    });
    expect(cuda.status).toBe(400);
    expect((await post({ name: 'x', image: IMAGE })).status).toBe(400);
  });

  test('v1 paths answer 410 Gone', async () => {
    const r = await fetch(`${api.url}/v1/pods`, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(r.status).toBe(410);
  });
});

describe('spawn', () => {
  beforeEach(() => start());

  test('sends a v2 CreatePodRequest with every configured field, and only those', async () => {
    const { provider } = setup({
      gpuCount: 2,
      cloud: 'COMMUNITY',
      ports: ['8888/http', '22/tcp'],
      disk: 40,
      args: '--serve',
      registry: 'cred-1',
      persistentMount: { size: 20, path: '/workspace' },
      minCudaVersion: '12.1',
      dataCenterIds: ['EU-RO-1'],
    });
    api.setGpu(RTX4090, stocked(0.7, 'HIGH', { 'EU-RO-1': 'LOW' }));
    const pod = await provider.spawn(spawnReq());
    expect(pod).toMatchObject({ name: 'gpu-scaler-c7-1-ab12cd34', status: 'starting', gpuCount: 2, existing: false });
    expect(pod.hourlyCostUsd).toBeCloseTo(0.7); // community 0.35 x 2
    const [create] = api.requestsTo('create');
    expect(create?.body).toEqual({
      name: 'gpu-scaler-c7-1-ab12cd34',
      image: IMAGE,
      cloud: 'COMMUNITY',
      dataCenterIds: ['EU-RO-1'],
      gpu: { id: RTX4090, count: 2, minCudaVersion: '12.1' },
      env: { HF_HOME: '/workspace/hf', GPU_SCALER_WORKER_ID: 'c7-1-ab12cd34' },
      ports: ['8888/http', '22/tcp'],
      disk: 40,
      args: '--serve',
      registry: 'cred-1',
      mounts: { persistent: { size: 20, path: '/workspace' } },
    });
    const [catalog] = api.requestsTo('catalog');
    expect(catalog?.query).toEqual({ include: ['AVAILABILITY'], product: ['POD'], count: ['2'], cloud: ['COMMUNITY'] });
  });

  test('a network mount and a template', async () => {
    const { provider } = setup({
      image: undefined,
      templateId: 'tpl-9',
      networkMount: { volumeId: 'vol_1', path: '/data' },
      allowedCudaVersions: ['12.8', '12.6'],
    });
    await provider.spawn(spawnReq());
    expect(api.requestsTo('create')[0]?.body).toMatchObject({
      templateId: 'tpl-9',
      mounts: { network: [{ volumeId: 'vol_1', path: '/data' }] },
      gpu: { id: RTX4090, count: 1, allowedCudaVersions: ['12.8', '12.6'] },
    });
  });

  test('placement falls through a type without stock and a (type, dc) that answers 400', async () => {
    api.setGpu(RTX4090, stocked(0.7, 'NONE'));
    api.setGpu(A5000, stocked(0.3, 'HIGH', { 'EU-RO-1': 'HIGH', 'US-TX-3': 'HIGH' }));
    api.rejectPlacement(A5000, 'EU-RO-1');
    const { provider } = setup({ dataCenterIds: ['EU-RO-1', 'US-TX-3'] });
    const pod = await provider.spawn(spawnReq());
    expect(
      api.requestsTo('create').map((r) => [(r.body as Any).gpu.id, (r.body as Any).dataCenterIds, r.status]),
    ).toEqual([
      [A5000, ['EU-RO-1'], 400],
      [A5000, ['US-TX-3'], 201],
    ]);
    expect(pod.details).toMatchObject({ gpuTypeId: A5000, dataCenterId: 'US-TX-3' });
    expect((pod.details as Any).candidatesPassed.map((c: Any) => c.outcome)).toEqual([
      'no_stock',
      'no_stock',
      'rejected',
    ]);
  });

  test('every candidate exhausted: a capacity failure listing each candidate and why', async () => {
    api.setGpu(RTX4090, stocked(0.7, 'NONE'));
    api.setGpu(A5000, stocked(0.3, 'LOW'));
    api.rejectPlacement(A5000);
    const { provider } = setup();
    const err = await rejection(provider.spawn(spawnReq()));
    expect(err.kind).toBe('capacity');
    // the candidates are in the details, rendered once by every surface (not also in the message)
    expect(err.message).toMatch(
      /could not place gpu-scaler-\S+ \(1x GPU, SECURE cloud\): none of 2 candidate\(s\) could take it$/,
    );
    expect(err.details).toEqual({
      candidates: [
        { gpuTypeId: RTX4090, dataCenterId: null, outcome: 'no_stock', detail: 'the catalog shows availability NONE' },
        {
          gpuTypeId: A5000,
          dataCenterId: null,
          outcome: 'rejected',
          detail: expect.stringContaining('no instances available'),
        },
      ],
    });
  });

  test('maxHourlyCostUsd: the cheaper candidate is placed, dearer ones are refused; quote() is the cheapest', async () => {
    api.setGpu(RTX4090, stocked(0.9));
    api.setGpu(A5000, stocked(0.4));
    const { provider } = setup({ gpuCount: 2 });
    expect(await provider.quote()).toEqual({ gpus: 2, hourlyCostUsd: 0.8 });
    const pod = await provider.spawn(spawnReq('a', { maxHourlyCostUsd: 1.0 }));
    expect(pod.details).toMatchObject({ gpuTypeId: A5000 });
    expect(pod.hourlyCostUsd).toBeCloseTo(0.8);
    const err = await rejection(provider.spawn(spawnReq('b', { maxHourlyCostUsd: 0.5 })));
    expect(err.kind).toBe('capacity');
    expect((err.details as Any).candidates.map((c: Any) => c.outcome)).toEqual(['over_budget', 'over_budget']);
    expect(api.requestsTo('create')).toHaveLength(1);
    // the catalog was read once for all of it (cached)
    expect(api.requestsTo('catalog')).toHaveLength(1);
  });

  test('quote() is null when the catalog cannot be read; spawning goes on with the configured order and a warning', async () => {
    api.serverErrorNext('catalog', 10);
    const { provider, logs } = setup();
    expect(await provider.quote()).toEqual({ gpus: 1, hourlyCostUsd: null });
    const pod = await provider.spawn(spawnReq());
    expect(pod.details).toMatchObject({ gpuTypeId: RTX4090 });
    expect(logs.join('\n')).toMatch(/warning: .*GPU catalog.*trying the configured GPU types in order/);
  });

  test("the pod's cost wins over the catalog price", async () => {
    await api.stop();
    await start({ podCost: 1.23 });
    api.setGpu(RTX4090, stocked(0.7));
    const { provider } = setup();
    expect((await provider.spawn(spawnReq())).hourlyCostUsd).toBe(1.23);
  });

  test('a pod already there under the key is returned, not made again', async () => {
    const { provider } = setup();
    const first = await provider.spawn(spawnReq());
    const again = await provider.spawn(spawnReq());
    expect(again).toMatchObject({ podId: first.podId, existing: true });
    expect(api.requestsTo('create')).toHaveLength(1);
  });

  test('500 then success: retried with backoff on the same candidate, one pod', async () => {
    api.failNext('create', { status: 500, afterCommit: true });
    const { provider, sleeps } = setup();
    const pod = await provider.spawn(spawnReq());
    expect(api.livePods()).toHaveLength(1);
    expect(pod.details).toMatchObject({ recoveredAfterUnclearCreate: true, gpuTypeId: RTX4090 });
    // the 500 may have made the pod: it is looked for by name first, and listed at once
    expect(sleeps).toEqual([]);
  });

  test('an unreadable 201: the pod is found by name, not made again', async () => {
    api.failNext('create', { status: 201, body: '<html>oops', afterCommit: true });
    const { provider } = setup();
    const pod = await provider.spawn(spawnReq());
    expect(api.livePods().map((p) => p.id)).toEqual([pod.podId]);
    expect(pod.details).toMatchObject({ recoveredAfterUnclearCreate: true });
    expect(api.requestsTo('create')).toHaveLength(1);
  });

  test('a create that times out after the pod was made is recovered by name', async () => {
    api.failNext('create', { stall: true });
    api.addPod({ name: 'gpu-scaler-c7-1-ab12cd34', env: { GPU_SCALER_WORKER_ID: 'c7-1-ab12cd34' } });
    // as if the stalled create made it: the lookup before the create answers an empty list
    api.failNext('list', { status: 200, body: { pods: [] } });
    const { provider } = setup({ requestTimeoutMs: 200 });
    const pod = await provider.spawn(spawnReq());
    expect(pod.details).toMatchObject({ recoveredAfterUnclearCreate: true });
    expect(api.requestsTo('create')).toHaveLength(1);
  });

  test('500 before the pod is made: retried, then created', async () => {
    api.serverErrorNext('create', 2);
    const { provider, sleeps } = setup({ listLagMs: 1000 });
    await provider.spawn(spawnReq());
    expect(api.requestsTo('create').map((r) => r.status)).toEqual([500, 500, 201]);
    // each 500 may have made the pod: it is looked for over RUNPOD_LIST_LAG_SEC (every 250 ms here)
    // before the backoff (equal jitter of 100 ms, then 200 ms, with random 0.5) and a create again
    expect(sleeps).toEqual([250, 250, 250, 250, 75, 250, 250, 250, 250, 150]);
  });

  test('429 honours Retry-After', async () => {
    api.rateLimitNext('create', { 'Retry-After': '7' });
    const { provider, sleeps } = setup();
    await provider.spawn(spawnReq());
    expect(sleeps).toEqual([7000]);
  });

  test('a RateLimit window at r=0 is waited out before the next call, even after a 2xx', async () => {
    api.failNext('list', { passThrough: true, headers: { RateLimit: '"minute";r=0;t=12, "hour";r=2800;t=1812' } });
    const { provider, sleeps } = setup();
    await provider.spawn(spawnReq());
    expect(sleeps).toEqual([12_000]);
    expect(parseRateLimit('"minute";r=3;t=12')).toBeUndefined();
  });

  test.each([
    [401, 'auth', /401 Unauthorized.*RUNPOD_API_KEY/],
    [403, 'auth', /403 Forbidden/],
    [402, 'billing', /payment required \(402\)/],
  ])('%i on create is %s, not retried, and the key never shows', async (status, kind, pattern) => {
    api.echoKey = true;
    api.problemNext('create', status, 'refused');
    const { provider } = setup();
    const err = await rejection(provider.spawn(spawnReq()));
    expect(err.kind).toBe(kind);
    expect(err.message).toMatch(pattern);
    expect(err.message).not.toContain(KEY);
    expect(api.requestsTo('create')).toHaveLength(1);
  });

  test('422 is invalid_request naming each violated field; never retried', async () => {
    api.problemNext('create', 422, 'request validation failed', {
      errors: ['$.gpu.count: must be >= 1', "$: additional properties 'bogus' not allowed"],
    });
    const { provider } = setup();
    const err = await rejection(provider.spawn(spawnReq()));
    expect(err.kind).toBe('invalid_request');
    expect(err.message).toContain('$.gpu.count: must be >= 1');
    expect(err.message).toContain("additional properties 'bogus'");
    expect(err.message).toMatch(/bug in gpu-scaler or a RUNPOD_\* setting/);
    expect(api.requestsTo('create')).toHaveLength(1);
  });

  test('404 on create names RUNPOD_TEMPLATE_ID', async () => {
    api.problemNext('create', 404, 'template not found');
    const { provider } = setup({ templateId: 'nope' });
    const err = await rejection(provider.spawn(spawnReq()));
    expect(err).toMatchObject({ kind: 'invalid_request' });
    expect(err.message).toContain('RUNPOD_TEMPLATE_ID');
  });

  test('a v1 base URL: api_retired, naming the v2 URL', async () => {
    const { provider } = setup({ baseUrl: `${api.url}/v1` });
    const err = await rejection(provider.spawn(spawnReq()));
    expect(err.kind).toBe('api_retired');
    expect(err.message).toContain('RunPod retired REST v1');
    expect(err.message).toContain('RUNPOD_API_URL=https://api.runpod.io/v2');
  });
});

describe('list, terminate, status', () => {
  beforeEach(() => start({ pageSize: 2 }));

  test('a paged list is followed to the end; only our pods are listed', async () => {
    for (let i = 0; i < 5; i++) api.addPod({ name: `gpu-scaler-k${i}`, env: { GPU_SCALER_WORKER_ID: `w${i}` } });
    api.addPod({ name: 'someone-elses-pod' });
    const { provider } = setup();
    const pods = await provider.list();
    expect(pods.map((p) => p.idempotencyKey).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
    expect(pods[0]?.workerId).toMatch(/^w\d$/);
    expect(api.requestsTo('list').map((r) => r.query.cursor?.[0] ?? null)).toEqual([null, '2', '4']);
  });

  test('terminate: 204, and 404 (already gone) is success', async () => {
    const pod = api.addPod({ name: 'gpu-scaler-x' });
    const { provider } = setup();
    await provider.terminate(pod.id);
    await provider.terminate(pod.id);
    expect(api.deleted).toEqual([pod.id]);
    expect(await provider.getPod(pod.id)).toBeNull();
  });

  test('status mapping and the PROVISIONING -> STARTING -> RUNNING lifecycle', async () => {
    const pod = api.addPod({ name: 'gpu-scaler-y', status: 'PROVISIONING' });
    const { provider } = setup();
    expect((await provider.getPod(pod.id))?.status).toBe('starting');
    api.advance(pod.id);
    expect((await provider.getPod(pod.id))?.status).toBe('starting');
    api.advance(pod.id);
    expect((await provider.getPod(pod.id))?.status).toBe('running');
    expect(['EXITED', 'ERROR', 'TERMINATED', 'WHATEVER'].map(podStatusOf)).toEqual([
      'exited',
      'failed',
      'terminated',
      'starting',
    ]);
  });
});

describe('transport', () => {
  beforeEach(() => start());
  test('redacts the key from messages and logs', async () => {
    const t = new HttpTransport({
      baseUrl: api.v2,
      headers: { Authorization: `Bearer ${KEY}` },
      secrets: [KEY],
      service: 'RunPod',
    });
    const r = await t.send('GET', '/pods');
    expect(r.status).toBe(200);
    expect(t.redact(`x ${KEY} Bearer abc`)).not.toContain(KEY);
  });
});

describe('configuration', () => {
  const base = {
    PROVIDER: 'runpod',
    RUNPOD_API_KEY: KEY,
    RUNPOD_IMAGE_NAME: IMAGE,
    RUNPOD_GPU_TYPE_IDS: `${RTX4090},${A5000}`,
  };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems.join('\n');
    }
    return '';
  };

  test('v1-only and malformed settings are start-up errors that say what is wrong', () => {
    expect(problems({ RUNPOD_INTERRUPTIBLE: 'true' })).toMatch(
      /RUNPOD_INTERRUPTIBLE.*v2 pods have no interruptible flag/,
    );
    expect(problems({ RUNPOD_INTERRUPTIBLE: 'false' })).toBe('');
    expect(problems({ RUNPOD_API_URL: 'ftp://api.runpod.io/v2' })).toMatch(/RUNPOD_API_URL="ftp:.*http\(s\) URL/);
    expect(problems({ RUNPOD_PORTS: '8888' })).toMatch(/RUNPOD_PORTS entry "8888".*<port>\/http/);
    expect(problems({ RUNPOD_VOLUME_GB: '20', RUNPOD_NETWORK_VOLUME_ID: 'vol_1' })).toMatch(/cannot both be set/);
    expect(problems({ RUNPOD_ALLOWED_CUDA_VERSIONS: '12.8', RUNPOD_MIN_CUDA_VERSION: '12.1' })).toMatch(
      /cannot both be set/,
    );
    expect(problems({ RUNPOD_MIN_CUDA_VERSION: '12' })).toMatch(/major\.minor/);
    expect(problems({ RUNPOD_VOLUME_GB: '5' })).toMatch(/>= 10/);
    expect(problems({ RUNPOD_IMAGE_NAME: '' })).toMatch(/RUNPOD_IMAGE_NAME .* or RUNPOD_TEMPLATE_ID is required/);
  });

  test('settings of a provider not in use are not checked', () => {
    expect(() =>
      loadConfig({ PROVIDER: 'simulated', RUNPOD_INTERRUPTIBLE: 'true', RUNPOD_PORTS: '8888' }),
    ).not.toThrow();
  });

  test('settings map to the v2 fields', () => {
    const cfg = loadConfig({
      ...base,
      RUNPOD_VOLUME_GB: '30',
      RUNPOD_DATA_CENTER_IDS: 'EU-RO-1, US-TX-3',
      RUNPOD_CONTAINER_DISK_GB: '60',
      RUNPOD_WORKER_ENV: '{"A":1}',
    });
    expect(cfg.RUNPOD_API_URL).toBe('https://api.runpod.io/v2');
    const o = runpodOptionsFromConfig(cfg, recordingClock().clock);
    expect(o).toMatchObject({
      gpuTypeIds: [RTX4090, A5000],
      image: IMAGE,
      disk: 60,
      persistentMount: { size: 30, path: '/workspace' },
      dataCenterIds: ['EU-RO-1', 'US-TX-3'],
      env: { A: '1' },
    });
    expect(makeProvider(cfg, recordingClock().clock).name).toBe('runpod');
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
  const env = { GPU_IDLE_TIMEOUT_SEC: '0', RECONCILE_EVERY_CYCLES: '2' };

  test('scale up, then down; an orphan pod is terminated by reconciliation', async () => {
    await start({ readyOnCreate: true });
    const { provider } = setup({ catalogTtlMs: 0 });
    h = await harness(pglite, { provider, env });
    h.source.set(2);
    await h.cycle();
    expect(api.livePods()).toHaveLength(2);
    const orphan = api.addPod({ name: 'gpu-scaler-from-yesterday' });
    await h.cycle();
    await h.cycle();
    expect(api.deleted).toContain(orphan.id);
    h.source.set(0);
    for (let i = 0; i < 10 && api.livePods().length > 0; i++) await h.cycle();
    expect(api.livePods()).toHaveLength(0);
  });

  test('every candidate exhausted: capacity, the breaker stays closed, explain lists the candidates', async () => {
    await start();
    api.setGpu(RTX4090, stocked(0.7, 'NONE'));
    api.setGpu(A5000, stocked(0.3));
    api.rejectPlacement(A5000);
    const { provider } = setup({ catalogTtlMs: 0 });
    h = await harness(pglite, { provider, env: { ...env, CIRCUIT_BREAKER_MIN_SPAWNS: '2' } });
    h.source.set(2);
    for (let i = 0; i < 4; i++) await h.cycle();
    const failed = (await h.events('WorkerSpawnFailed')).map((e) => e.data);
    expect(failed.map((f) => f.kind)).toEqual(failed.map(() => 'capacity'));
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0].details).toMatchObject({ candidates: [{ outcome: 'no_stock' }, { outcome: 'rejected' }] });
    expect((await h.events('AnomalyDetected')).map((e) => e.data.kind)).not.toContain('circuit_breaker_open');
    const ex = explain(await h.events(), { focusCycle: 1 });
    const text = [...ex.timeline.map((l) => l.text), ...ex.cycles.map(conclude)].join('\n');
    expect(text).toContain(
      `[candidates: ${RTX4090}: no_stock (the catalog shows availability NONE); ${A5000}: rejected`,
    );
    // listed once per failure, in explain and in the log line
    const once = (t: string) => t.split('\n').every((l) => l.split(`${RTX4090}: no_stock`).length <= 2);
    expect(once(text)).toBe(true);
    expect(once(h.stdout.text)).toBe(true);
    expect(h.stdout.text).toContain(
      `[candidates: ${RTX4090}: no_stock (the catalog shows availability NONE); ${A5000}: rejected`,
    );
  });

  test('placement is visible: the GPU type, data center, price and passed-over candidates in the log line and explain', async () => {
    await start();
    api.setGpu(RTX4090, stocked(0.7, 'NONE'));
    api.setGpu(A5000, stocked(0.3));
    const { provider } = setup({ catalogTtlMs: 0 });
    h = await harness(pgliteBackend(), { provider, env });
    h.source.set(1);
    await h.cycle();
    // the data center is the one RunPod put the pod in (the fake's US-TX-3)
    const placed = `on ${A5000} in US-TX-3 at 0.30 USD/h; passed over: ${RTX4090}: no_stock (the catalog shows availability NONE)`;
    expect(h.stdout.text).toMatch(
      /✅ Worker 1\/1 spawned successfully \(worker \S+, pod \S+\) on NVIDIA RTX A5000 in US-TX-3 at 0\.30 USD\/h/,
    );
    expect(h.stdout.text).toContain(placed);
    const ex = explain(await h.events(), { focusCycle: 1 });
    expect(ex.timeline.map((l) => l.text).join('\n')).toContain(placed);
    expect(ex.cycles.map(conclude).join('\n')).toContain(placed);
  });

  test.each([
    [422, 'invalid_request', 'provider_request_invalid', /\$\.gpu\.id/],
    [401, 'auth', 'provider_auth_failed', /refused our credentials/],
    [402, 'billing', 'provider_billing_failed', /refused to bill/],
    [403, 'auth', 'provider_auth_failed', /refused our credentials/],
  ])('%i stops spawning with a critical line and an anomaly', async (status, kind, anomaly, line) => {
    await start();
    api.problemNext('create', status, 'refused', { errors: status === 422 ? ['$.gpu.id: must be string'] : undefined });
    const { provider } = setup({ catalogTtlMs: 0 });
    h = await harness(pglite, { provider, env });
    h.source.set(2);
    await h.cycle();
    const failed = (await h.events('WorkerSpawnFailed')).map((e) => e.data);
    expect(failed.map((f) => f.kind)).toEqual([kind, 'blocked']);
    const next = await h.cycle();
    if (next.kind !== 'decided') throw new Error('expected a decision');
    expect(next.anomalies.map((a) => a.kind)).toEqual([anomaly]);
    expect(h.stdout.text).toMatch(/CRIT +❌ CRITICAL: /);
    expect(`${next.decision.spawnBlocked} ${next.anomalies[0]?.message}`).toMatch(line);
    await h.cycle();
    expect(api.requestsTo('create')).toHaveLength(1);
  });

  test('410 from a v1 URL stops spawning; the anomaly names the v2 URL', async () => {
    await start();
    const { provider } = setup({ baseUrl: `${api.url}/v1`, catalogTtlMs: 0 });
    h = await harness(pglite, { provider, env });
    h.source.set(1);
    await h.cycle();
    const next = await h.cycle();
    if (next.kind !== 'decided') throw new Error('expected a decision');
    expect(next.anomalies.map((a) => a.kind)).toEqual(['provider_api_retired']);
    expect(next.anomalies[0]?.message).toContain('RUNPOD_API_URL=https://api.runpod.io/v2');
    expect(next.decision.spawnBlocked).toMatch(/retired/);
  });
});
