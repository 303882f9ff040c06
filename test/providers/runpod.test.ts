import type { Clock } from '../../src/clock';
import { type PodInfo, ProviderError, type SpawnRequest } from '../../src/providers/provider';
import {
  makeRunpodProvider,
  normalizeTimestamp,
  parseWorkerEnv,
  podStatusOf,
  type RunpodOptions,
  RunpodProvider,
  splitList,
} from '../../src/providers/runpod';
import { FakeRunpodApi, NO_CAPACITY_MESSAGE } from '../fakes/runpod-api';

const KEY = 'rp_SECRET_key_do_not_leak_0042';
const RTX4090 = 'NVIDIA GeForce RTX 4090';
const A5000 = 'NVIDIA RTX A5000';
const IMAGE = 'ghcr.io/acme/gpu-worker:1.2.3';
const NOW = '2026-11-27T12:00:00.000Z';

let api: FakeRunpodApi;

beforeEach(async () => {
  api = await FakeRunpodApi.start({ apiKey: KEY });
});

afterEach(async () => {
  await api.stop();
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

function setup(over: Partial<RunpodOptions> = {}) {
  const { clock, sleeps } = recordingClock();
  const logs: string[] = [];
  const provider = new RunpodProvider({
    apiKey: KEY,
    baseUrl: api.url,
    gpuTypeIds: [RTX4090, A5000],
    imageName: IMAGE,
    env: { HF_HOME: '/workspace/hf', BATCH_SIZE: 4, VERBOSE: true },
    clock,
    random: () => 0.5,
    retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
    requestTimeoutMs: 5000,
    log: (level, message) => logs.push(`${level}: ${message}`),
    ...over,
  });
  return { provider, sleeps, logs };
}

const spawnReq = (key = 'c7-1-ab12cd34'): SpawnRequest => ({
  workerId: key,
  idempotencyKey: key,
  env: { GPU_SCALER_WORKER_ID: key },
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

describe('spawn', () => {
  test('creates a pod named with the prefix and key, with the worker env; the fake checks the request', async () => {
    const { provider, sleeps } = setup();
    const pod = await provider.spawn(spawnReq());

    const creates = api.requestsTo('create');
    expect(creates).toHaveLength(1);
    expect(creates[0].status).toBe(201);
    expect(creates[0].headers.authorization).toBe(`Bearer ${KEY}`);
    expect(creates[0].body).toEqual({
      name: 'gpu-scaler-c7-1-ab12cd34',
      imageName: IMAGE,
      gpuTypeIds: [RTX4090],
      gpuCount: 1,
      env: { HF_HOME: '/workspace/hf', BATCH_SIZE: '4', VERBOSE: 'true', GPU_SCALER_WORKER_ID: 'c7-1-ab12cd34' },
    });
    // looked up by name first
    const lookups = api.requestsTo('list');
    expect(lookups).toHaveLength(1);
    expect(lookups[0].query).toEqual({ name: ['gpu-scaler-c7-1-ab12cd34'] });

    const stored = [...api.pods.values()][0];
    expect(pod).toEqual<PodInfo>({
      podId: stored.id,
      name: 'gpu-scaler-c7-1-ab12cd34',
      workerId: 'c7-1-ab12cd34',
      idempotencyKey: 'c7-1-ab12cd34',
      status: 'starting',
      createdAt: '2026-11-27T12:00:01.000Z',
      existing: false,
      details: { desiredStatus: 'RUNNING', gpuTypeId: RTX4090, costPerHr: 0.27, machineId: stored.machineId },
    });
    expect(sleeps).toEqual([]);
  });

  test('sends every configured pod field, each accepted by the spec check', async () => {
    const { provider } = setup({
      gpuCount: 2,
      cloudType: 'COMMUNITY',
      containerDiskInGb: 40,
      volumeInGb: 0,
      volumeMountPath: '/workspace',
      networkVolumeId: 'agv6w2qcg7',
      ports: ['8888/http', '22/tcp'],
      dataCenterIds: ['EU-RO-1', 'CA-MTL-1'],
      interruptible: true,
      env: undefined,
    });
    await provider.spawn(spawnReq('k1'));
    const create = api.requestsTo('create')[0];
    expect(create.status).toBe(201);
    expect(create.body).toEqual({
      name: 'gpu-scaler-k1',
      imageName: IMAGE,
      gpuTypeIds: [RTX4090],
      gpuCount: 2,
      cloudType: 'COMMUNITY',
      containerDiskInGb: 40,
      volumeInGb: 0,
      volumeMountPath: '/workspace',
      networkVolumeId: 'agv6w2qcg7',
      ports: ['8888/http', '22/tcp'],
      dataCenterIds: ['EU-RO-1', 'CA-MTL-1'],
      interruptible: true,
      env: { GPU_SCALER_WORKER_ID: 'k1' },
    });
  });

  test('the worker id always wins over configured env', async () => {
    const { provider } = setup({ env: { GPU_SCALER_WORKER_ID: 'from-config', OTHER: 'x' } });
    await provider.spawn({ workerId: 'w-9', idempotencyKey: 'w-9' });
    expect((api.requestsTo('create')[0].body as { env: unknown }).env).toEqual({
      OTHER: 'x',
      GPU_SCALER_WORKER_ID: 'w-9',
    });
  });

  test('is idempotent: a second spawn with the same key creates nothing and returns the pod as existing', async () => {
    const { provider } = setup();
    const first = await provider.spawn(spawnReq('dup-1'));
    const second = await provider.spawn(spawnReq('dup-1'));
    expect(api.requestsTo('create')).toHaveLength(1);
    expect(api.pods.size).toBe(1);
    expect(second.existing).toBe(true);
    expect(second.podId).toBe(first.podId);
    expect(second.idempotencyKey).toBe('dup-1');
  });

  test('a pod of the same name that has exited does not count: a new one is made', async () => {
    api.addPod({ name: 'gpu-scaler-again', desiredStatus: 'EXITED' });
    const { provider } = setup();
    const pod = await provider.spawn(spawnReq('again'));
    expect(pod.existing).toBe(false);
    expect(api.requestsTo('create')).toHaveLength(1);
    expect(api.pods.size).toBe(2);
  });

  test('refuses a key that would make a name longer than RunPod allows', async () => {
    const { provider } = setup();
    const err = await rejection(provider.spawn(spawnReq('k'.repeat(200))));
    expect(err.kind).toBe('error');
    expect(err.message).toMatch(/longer than RunPod's 191 characters/);
    expect(api.requests).toHaveLength(0);
  });
});

describe('no capacity', () => {
  test('falls back to the next GPU type', async () => {
    api.noCapacity([RTX4090]);
    const { provider, sleeps, logs } = setup();
    const pod = await provider.spawn(spawnReq('cap-1'));
    const creates = api.requestsTo('create');
    expect(creates.map((c) => [(c.body as { gpuTypeIds: string[] }).gpuTypeIds, c.status])).toEqual([
      [[RTX4090], 400],
      [[A5000], 201],
    ]);
    expect(pod.details).toMatchObject({ gpuTypeId: A5000, noCapacityFor: [RTX4090] });
    expect(pod.status).toBe('starting');
    expect(sleeps).toEqual([]); // no capacity is not retried, it moves on
    expect(logs).toEqual([
      expect.stringMatching(/^info: RunPod has no NVIDIA GeForce RTX 4090 .* trying NVIDIA RTX A5000/),
    ]);
  });

  test('recognises the message on a 500 too, and "not enough free GPUs"', async () => {
    api.noCapacity([RTX4090], {
      status: 500,
      message: 'There are not enough free GPUs on the host machine to start this pod.',
    });
    const { provider, sleeps } = setup();
    const pod = await provider.spawn(spawnReq('cap-2'));
    expect(pod.details).toMatchObject({ gpuTypeId: A5000 });
    expect(api.requestsTo('create').map((c) => c.status)).toEqual([500, 201]);
    expect(sleeps).toEqual([]);
  });

  test('all types exhausted: ProviderError capacity naming the types tried, and no pod', async () => {
    api.noCapacity([RTX4090, A5000]);
    const { provider } = setup();
    const err = await rejection(provider.spawn(spawnReq('cap-3')));
    expect(err.kind).toBe('capacity');
    expect(err.message).toContain(`"${RTX4090}"`);
    expect(err.message).toContain(`"${A5000}"`);
    expect(err.message).toContain('gpu-scaler-cap-3');
    expect(api.pods.size).toBe(0);
    expect(api.requestsTo('create')).toHaveLength(2);
  });

  test('capacity comes back: the next spawn succeeds on the first type', async () => {
    api.noCapacity([RTX4090], { times: 1 });
    const { provider } = setup({ gpuTypeIds: [RTX4090] });
    expect((await rejection(provider.spawn(spawnReq('c-a')))).kind).toBe('capacity');
    const pod = await provider.spawn(spawnReq('c-b'));
    expect(pod.details).toMatchObject({ gpuTypeId: RTX4090 });
  });
});

describe('retries', () => {
  test('429 with Retry-After in seconds waits that long, then succeeds', async () => {
    api.rateLimitNext('create', '7');
    const { provider, sleeps } = setup();
    const pod = await provider.spawn(spawnReq('rl-1'));
    expect(sleeps).toEqual([7000]);
    expect(api.requestsTo('create').map((c) => c.status)).toEqual([429, 201]);
    expect(pod.existing).toBe(false);
    expect(api.pods.size).toBe(1);
  });

  test('429 with Retry-After as an HTTP date waits until then', async () => {
    api.rateLimitNext('list', 'Fri, 27 Nov 2026 12:00:05 GMT');
    const { provider, sleeps } = setup();
    await provider.list();
    expect(sleeps).toEqual([5000]);
  });

  test('429 without Retry-After backs off exponentially with jitter', async () => {
    api.rateLimitNext('list', null, 2);
    const { provider, sleeps } = setup();
    await provider.list();
    // base 100 then 200, half fixed and half random (random() = 0.5)
    expect(sleeps).toEqual([75, 150]);
  });

  test('429 on every attempt: ProviderError rate_limited carrying the Retry-After', async () => {
    api.rateLimitNext('list', '2', 3);
    const { provider, sleeps } = setup();
    const err = await rejection(provider.list());
    expect(err.kind).toBe('rate_limited');
    expect(err.retryAfterMs).toBe(2000);
    expect(err.message).toMatch(/rate-limited list pods \(429\) after 3 attempts; Retry-After 2 s/);
    expect(sleeps).toEqual([2000, 2000]);
  });

  test('a Retry-After longer than the maximum is not waited out', async () => {
    api.rateLimitNext('create', '3600');
    const { provider, sleeps } = setup({ maxRetryAfterMs: 60_000 });
    const err = await rejection(provider.spawn(spawnReq('rl-2')));
    expect(err.kind).toBe('rate_limited');
    expect(err.retryAfterMs).toBe(3_600_000);
    expect(sleeps).toEqual([]);
  });

  test('a 500 then success', async () => {
    api.serverErrorNext('list');
    api.addPod({ name: 'gpu-scaler-x' });
    const { provider, sleeps } = setup();
    const pods = await provider.list();
    expect(pods.map((p) => p.idempotencyKey)).toEqual(['x']);
    expect(sleeps).toEqual([75]);
    expect(api.requestsTo('list').map((r) => r.status)).toEqual([500, 200]);
  });

  test('5xx on every attempt: ProviderError error naming the attempts; backoff doubles and is capped', async () => {
    api.serverErrorNext('list', 5, 503, 'upstream unavailable');
    const { provider, sleeps } = setup({ retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 300 } });
    const err = await rejection(provider.list());
    expect(err.kind).toBe('error');
    expect(err.message).toBe('RunPod failed to list pods after 5 attempts (HTTP 503): upstream unavailable');
    expect(sleeps).toEqual([75, 150, 225, 225]);
  });

  test('a create answered 500 after the pod was made is found by name, not made twice', async () => {
    api.failNext('create', { status: 500, body: { error: 'Something went wrong.' }, afterCommit: true });
    const { provider, sleeps } = setup();
    const pod = await provider.spawn(spawnReq('amb-1'));
    expect(api.requestsTo('create')).toHaveLength(1);
    expect(api.pods.size).toBe(1);
    expect(pod.podId).toBe([...api.pods.keys()][0]);
    expect(pod.existing).toBe(false);
    expect(pod.details).toMatchObject({ recoveredAfterUnclearCreate: true, gpuTypeId: RTX4090 });
    expect(sleeps).toEqual([75]);
  });

  test('a create answered 500 before anything was made is retried', async () => {
    api.serverErrorNext('create');
    const { provider } = setup();
    const pod = await provider.spawn(spawnReq('amb-2'));
    expect(api.requestsTo('create').map((c) => c.status)).toEqual([500, 201]);
    expect(pod.details).not.toHaveProperty('recoveredAfterUnclearCreate');
    expect(api.pods.size).toBe(1);
  });

  test('a request that times out is retried', async () => {
    api.stallNext('list');
    const { provider, sleeps } = setup({ requestTimeoutMs: 100 });
    await expect(provider.list()).resolves.toEqual([]);
    expect(sleeps).toEqual([75]);
    expect(api.requestsTo('list')).toHaveLength(2);
  });

  test('a network error is retried', async () => {
    let calls = 0;
    const flaky: typeof fetch = (input, init) => {
      calls += 1;
      if (calls === 1) return Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } }));
      return fetch(input, init);
    };
    const { provider, sleeps, logs } = setup({ fetch: flaky });
    await provider.list();
    expect(calls).toBe(2);
    expect(sleeps).toEqual([75]);
    expect(logs[0]).toMatch(
      /^warning: RunPod call failed \(attempt 1\/3\), retrying in 75 ms: GET \/pods failed: fetch failed \(ECONNRESET\)/,
    );
  });

  test('an API that cannot be reached: ProviderError error after the attempts', async () => {
    const url = api.url;
    await api.stop();
    const { provider, sleeps } = setup({ baseUrl: url });
    const err = await rejection(provider.list());
    expect(err.kind).toBe('error');
    expect(err.message).toMatch(/^RunPod unreachable to list pods after 3 attempts: GET \/pods failed/);
    expect(sleeps).toEqual([75, 150]);
  });
});

describe('auth', () => {
  test('401: ProviderError auth, not retried, and the key is not in the message though the API echoed it', async () => {
    const wrong = 'rp_WRONG_key_5555';
    const { provider, sleeps, logs } = setup({ apiKey: wrong });
    const err = await rejection(provider.spawn(spawnReq('a-1')));
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(
      /RunPod rejected the API key \(401 Unauthorized\) on look up pod: check RUNPOD_API_KEY/,
    );
    expect(api.requests[0].status).toBe(401);
    expect(err.message).not.toContain(wrong);
    expect(err.message).toContain('Bearer ***');
    expect(api.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(logs).toEqual([]);
  });

  test('402: no balance', async () => {
    api.failNext('create', { status: 402, body: { error: 'Insufficient balance' } });
    const { provider } = setup();
    const err = await rejection(provider.spawn(spawnReq('a-2')));
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(/insufficient account balance \(402 Payment Required\)/);
    expect(api.requestsTo('create')).toHaveLength(1);
  });

  test('403: no access', async () => {
    api.failNext('delete', { status: 403, body: { error: 'Forbidden' } });
    const { provider } = setup();
    const err = await rejection(provider.terminate('abc'));
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(/the API key has no access \(403 Forbidden\)/);
  });

  test('a key echoed in any answer is redacted from errors and logs', async () => {
    api.serverErrorNext('list', 3, 500, `internal error for token ${KEY}`);
    const { provider, logs } = setup();
    const err = await rejection(provider.list());
    expect(err.message).not.toContain(KEY);
    expect(err.message).toContain('internal error for token ***');
    expect(logs).toHaveLength(2);
    for (const l of logs) expect(l).not.toContain(KEY);
  });
});

describe('malformed answers', () => {
  test('a body that is not JSON: a clear error', async () => {
    api.failNext('list', { status: 200, body: '{"pods": [oops' });
    const { provider } = setup();
    const err = await rejection(provider.list());
    expect(err.kind).toBe('error');
    expect(err.message).toBe(
      'RunPod gave an invalid answer to list pods: GET /pods answered 200 with a body that is not JSON: {"pods": [oops',
    );
  });

  test('JSON of the wrong shape: names the field', async () => {
    api.failNext('list', { status: 200, body: [{ name: 'gpu-scaler-z', desiredStatus: 'RUNNING' }] });
    const { provider } = setup();
    const err = await rejection(provider.list());
    expect(err.message).toMatch(/GET \/pods answered 200 with an unexpected shape: 0\.id: /);
  });

  test('a 201 with an unreadable body: the pod is found by name instead of leaked', async () => {
    api.failNext('create', { status: 201, body: '<html>gateway</html>', afterCommit: true });
    const { provider } = setup();
    const pod = await provider.spawn(spawnReq('m-1'));
    expect(pod.podId).toBe([...api.pods.keys()][0]);
    expect(pod.details).toMatchObject({ recoveredAfterUnclearCreate: true });
    expect(api.requestsTo('create')).toHaveLength(1);
  });

  test('a 201 with an unreadable body and no pod to be found: an error', async () => {
    api.failNext('create', { status: 201, body: 'not json' });
    const { provider } = setup();
    const err = await rejection(provider.spawn(spawnReq('m-2')));
    expect(err.kind).toBe('error');
    expect(err.message).toMatch(/create pod gpu-scaler-m-2 .*POST \/pods answered 201 with a body that is not JSON/);
  });

  test('any other 4xx is an error, not retried', async () => {
    api.failNext('create', { status: 400, body: { error: 'gpuTypeIds[0] is not a valid GPU type' } });
    const { provider, sleeps } = setup();
    const err = await rejection(provider.spawn(spawnReq('m-3')));
    expect(err.kind).toBe('error');
    expect(err.message).toBe(
      `RunPod rejected create pod gpu-scaler-m-3 (${RTX4090}) (HTTP 400): gpuTypeIds[0] is not a valid GPU type`,
    );
    expect(sleeps).toEqual([]);
  });
});

describe('terminate', () => {
  test('deletes the pod', async () => {
    const { provider } = setup();
    const pod = await provider.spawn(spawnReq('t-1'));
    await provider.terminate(pod.podId);
    expect(api.deleted).toEqual([pod.podId]);
    expect(api.pods.size).toBe(0);
    const del = api.requestsTo('delete')[0];
    expect(del.path).toBe(`/pods/${pod.podId}`);
    expect(del.status).toBe(204);
    expect(await provider.list()).toEqual([]);
  });

  test('a pod that is already gone is fine', async () => {
    const { provider } = setup();
    await expect(provider.terminate('doesnotexist01')).resolves.toBeUndefined();
    expect(api.requestsTo('delete')[0].status).toBe(404);
  });

  test('400 "Invalid Pod ID" for a pod RunPod does not know is fine; for one it knows, an error', async () => {
    const { provider } = setup();
    api.failNext('delete', { status: 400, body: { error: 'Invalid Pod ID' } });
    await expect(provider.terminate('gone0000000001')).resolves.toBeUndefined();
    expect(api.requestsTo('get').map((r) => r.status)).toEqual([404]);

    const live = api.addPod({ name: 'gpu-scaler-t-2' });
    api.failNext('delete', { status: 400, body: { error: 'Invalid Pod ID' } });
    const err = await rejection(provider.terminate(live.id));
    expect(err.message).toBe(`RunPod rejected terminate pod ${live.id} (HTTP 400): Invalid Pod ID`);
  });

  test('a 5xx is retried', async () => {
    const live = api.addPod({ name: 'gpu-scaler-t-3' });
    api.serverErrorNext('delete');
    const { provider, sleeps } = setup();
    await provider.terminate(live.id);
    expect(api.deleted).toEqual([live.id]);
    expect(sleeps).toEqual([75]);
  });
});

describe('list', () => {
  test('maps statuses and keys; only pods with our prefix; ended pods first', async () => {
    const ready = api.addPod({ name: 'gpu-scaler-c1-1-aaaa', env: { GPU_SCALER_WORKER_ID: 'c1-1-aaaa' } });
    api.markReady(ready.id);
    const booting = api.addPod({ name: 'gpu-scaler-c1-2-bbbb' });
    const exited = api.addPod({ name: 'gpu-scaler-c0-1-cccc', desiredStatus: 'EXITED' });
    const gone = api.addPod({ name: 'gpu-scaler-c0-2-dddd', desiredStatus: 'TERMINATED' });
    api.addPod({ name: 'my-notebook' });
    api.addPod({ name: 'gpu-scalerish' });

    const { provider } = setup();
    const pods = await provider.list();
    expect(pods.map((p) => [p.podId, p.idempotencyKey, p.status, p.workerId])).toEqual([
      [exited.id, 'c0-1-cccc', 'exited', null],
      [gone.id, 'c0-2-dddd', 'terminated', null],
      [ready.id, 'c1-1-aaaa', 'running', 'c1-1-aaaa'],
      [booting.id, 'c1-2-bbbb', 'starting', null],
    ]);
    expect(pods[2].createdAt).toMatch(/^2026-11-27T12:00:0\d\.000Z$/);
    expect(api.requestsTo('list')[0].query).toEqual({});
  });

  test('a spawned pod goes from starting to running once it has its network', async () => {
    const { provider } = setup();
    const pod = await provider.spawn(spawnReq('s-1'));
    expect((await provider.list())[0].status).toBe('starting');
    api.markReady(pod.podId);
    expect((await provider.list())[0].status).toBe('running');
  });

  test('getPod reads one pod, null when unknown', async () => {
    const p = api.addPod({ name: 'gpu-scaler-g-1', desiredStatus: 'EXITED' });
    const { provider } = setup();
    expect(await provider.getPod(p.id)).toMatchObject({ podId: p.id, status: 'exited', idempotencyKey: 'g-1' });
    expect(await provider.getPod('unknown0000001')).toBeNull();
  });
});

describe('pure helpers', () => {
  test('podStatusOf', () => {
    expect(podStatusOf({ desiredStatus: 'RUNNING', publicIp: null, portMappings: {} })).toBe('starting');
    expect(podStatusOf({ desiredStatus: 'RUNNING', publicIp: '', portMappings: null })).toBe('starting');
    expect(podStatusOf({ desiredStatus: 'RUNNING', publicIp: '1.2.3.4', portMappings: {} })).toBe('running');
    expect(podStatusOf({ desiredStatus: 'RUNNING', publicIp: null, portMappings: { 22: 4000 } })).toBe('running');
    expect(podStatusOf({ desiredStatus: 'RUNNING' })).toBe('running'); // absent fields say nothing
    expect(podStatusOf({ desiredStatus: 'EXITED' })).toBe('exited');
    expect(podStatusOf({ desiredStatus: 'TERMINATED' })).toBe('terminated');
    expect(podStatusOf({ desiredStatus: 'SOMETHING_NEW' })).toBe('starting');
  });

  test('normalizeTimestamp', () => {
    expect(normalizeTimestamp('2026-08-20 06:16:19.436 +0000 UTC')).toBe('2026-08-20T06:16:19.436Z');
    expect(normalizeTimestamp('2024-07-12T19:14:40.144Z')).toBe('2024-07-12T19:14:40.144Z');
    expect(normalizeTimestamp('garbage')).toBeNull();
    expect(normalizeTimestamp(undefined)).toBeNull();
  });

  test('splitList and parseWorkerEnv (for the config wiring)', () => {
    expect(splitList(` ${RTX4090} , ${A5000},, `)).toEqual([RTX4090, A5000]);
    expect(splitList('  ')).toBeUndefined();
    expect(splitList(undefined)).toBeUndefined();
    expect(parseWorkerEnv('{"A":"1","B":2,"C":true}')).toEqual({ A: '1', B: '2', C: 'true' });
    expect(parseWorkerEnv(undefined)).toBeUndefined();
    expect(() => parseWorkerEnv('[1]')).toThrow(/JSON object/);
    expect(() => parseWorkerEnv('{"A":{"x":1}}')).toThrow(/RUNPOD_WORKER_ENV.A/);
  });

  test('options are checked, without echoing the key', () => {
    const base: RunpodOptions = { apiKey: KEY, gpuTypeIds: [A5000], imageName: IMAGE };
    expect(() => makeRunpodProvider({ ...base, gpuTypeIds: [] })).toThrow(/gpuTypeIds must list at least one/);
    expect(() => makeRunpodProvider({ ...base, apiKey: ' ' })).toThrow(/apiKey is required/);
    expect(() => makeRunpodProvider({ ...base, imageName: '' })).toThrow(/imageName is required/);
    expect(() => makeRunpodProvider({ ...base, gpuCount: 0 })).toThrow(/gpuCount/);
    expect(() => makeRunpodProvider({ ...base, ports: ['8888'] })).toThrow(/port "8888"/);
    expect(() => makeRunpodProvider({ ...base, cloudType: 'PRIVATE' as never })).toThrow(/cloudType/);
    try {
      makeRunpodProvider({ ...base, gpuTypeIds: [] });
    } catch (err) {
      expect((err as Error).message).not.toContain(KEY);
    }
    expect(makeRunpodProvider(base).name).toBe('runpod');
  });
});

describe('the fake checks requests against the spec', () => {
  const post = (body: unknown, key = KEY) =>
    fetch(`${api.url}/pods`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  const valid = { name: 'gpu-scaler-f', imageName: IMAGE, gpuTypeIds: [A5000], gpuCount: 1, env: {} };

  test('unknown fields and wrong types are 400 with a message', async () => {
    const typo = await post({ ...valid, gpuTypeIds: undefined, gpuTypeId: [A5000] });
    expect(typo.status).toBe(400);
    expect(((await typo.json()) as { error: string }).error).toContain('unknown field "gpuTypeId"');

    const types = await post({ ...valid, gpuCount: '1', env: { A: 1 }, cloudType: 'secure', ports: ['80'] });
    expect(types.status).toBe(400);
    const msg = ((await types.json()) as { error: string }).error;
    expect(msg).toContain('gpuCount must be an integer');
    expect(msg).toContain('env .A must be a string');
    expect(msg).toContain('cloudType must be one of SECURE, COMMUNITY');
    expect(msg).toContain('ports [0] must look like');
    expect(api.pods.size).toBe(0);
  });

  test('a valid body is 201 with the pod', async () => {
    const res = await post(valid);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name: 'gpu-scaler-f', desiredStatus: 'RUNNING', gpu: { id: A5000 } });
  });

  test('a wrong or missing key is 401; unknown query parameters and paths are refused', async () => {
    expect((await post(valid, 'nope')).status).toBe(401);
    expect((await fetch(`${api.url}/pods`)).status).toBe(401);
    const auth = { headers: { Authorization: `Bearer ${KEY}` } };
    const badQuery = await fetch(`${api.url}/pods?podName=x`, auth);
    expect(badQuery.status).toBe(400);
    expect(((await badQuery.json()) as { error: string }).error).toContain('unknown query parameter "podName"');
    expect((await fetch(`${api.url}/pod`, auth)).status).toBe(404);
    expect((await fetch(`${api.url}/pods`, { ...auth, method: 'PUT' })).status).toBe(405);
  });

  test('the no-capacity message is the one RunPod gives', () => {
    expect(NO_CAPACITY_MESSAGE).toMatch(
      /^There are no longer any instances available with the requested specifications/,
    );
  });
});
