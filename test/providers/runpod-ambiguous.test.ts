import { systemClock } from '../../src/clock';
import type { PodInfo, Provider, SpawnRequest } from '../../src/providers/provider';
import { type RunpodOptions, RunpodProvider } from '../../src/providers/runpod/index';
import { FakeRunpodApi } from '../fakes/runpod-api';
import { pgliteBackend } from '../helpers/backends';
import { harness } from '../helpers/harness';
import { waitFor } from '../helpers/wait';

// Ambiguous creates (#24.8): a create whose answer never arrives may still have made the pod, and
// a list that shows new pods late must not make a second one. Every create here outlives the
// client's timeout (the pod is made at once, the answer comes after the timeout), and the list
// leaves out pods younger than LIST_LAG_MS.

const KEY = 'rp_ambiguous_key_0123456789';
const A40 = 'NVIDIA A40';
const LIST_LAG_MS = 300;
const CAP = 6;

let api: FakeRunpodApi;
let h: Awaited<ReturnType<typeof harness>> | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
  await api?.stop();
});

function provider(over: Partial<RunpodOptions> = {}): RunpodProvider {
  return new RunpodProvider({
    apiKey: KEY,
    baseUrl: api.v2,
    gpuTypeIds: [A40],
    image: 'ghcr.io/acme/worker:1',
    // real time: the fake's lag is real
    clock: systemClock,
    requestTimeoutMs: 100,
    retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
    // the window is longer than the list's lag: an unanswered create's pod is always seen in it
    listLagMs: 1_000,
    ...over,
  });
}

async function startApi() {
  api = await FakeRunpodApi.start({ apiKey: KEY, createDelayMs: 400, listLagMs: LIST_LAG_MS, readyOnCreate: true });
  return api;
}

test('behind a lagging list, timed-out creates make no duplicate pod and never more pods than MAX_ACTIVE_GPUS', async () => {
  await startApi();
  h = await harness(pgliteBackend(), { provider: provider(), env: { MAX_ACTIVE_GPUS: String(CAP) } });
  h.source.set(20);
  for (let i = 0; i < 4; i++) await h.cycle();

  expect(api.duplicates().map((p) => p.name)).toEqual([]);
  expect(api.peakLive).toBeLessThanOrEqual(CAP);
  expect(api.livePods()).toHaveLength(CAP);
  const spawned = await h.events('WorkerSpawned');
  expect(spawned).toHaveLength(CAP);
  expect(spawned.every((e) => e.data.details.recoveredAfterUnclearCreate === true)).toBe(true);
  expect(await h.events('WorkerSpawnFailed')).toEqual([]);
  // each step is recorded: unanswered, then found (once listed), per worker
  const steps = (await h.events('WorkerSpawnUnclear')).map((e) => e.data.step);
  expect(steps.filter((s) => s === 'unanswered')).toHaveLength(CAP);
  expect(steps.filter((s) => s === 'found')).toHaveLength(CAP);
  expect(h.stdout.text).toMatch(/create unclear, unanswered: create attempt 1 for gpu-scaler-\S+ on NVIDIA A40/);
});

test('a create that made no pod is sent again only after RUNPOD_LIST_LAG_SEC passed with no such pod listed', async () => {
  await startApi();
  // the first create times out without making a pod (a stall before any work), the second works
  api.stallNext('create');
  const p = provider();
  const steps: string[] = [];
  const pod = await p.spawn({
    workerId: 'c1-1-abc',
    idempotencyKey: 'c1-1-abc',
    onStep: async (s) => {
      steps.push(`${s.step}:${s.attempt}`);
    },
  });
  expect(steps).toEqual(['unanswered:1', 'not_listed:1', 'unanswered:2', 'found:2']);
  expect(api.requestsTo('create')).toHaveLength(2);
  expect(api.livePods().map((x) => x.id)).toEqual([pod.podId]);
});

/** A provider whose spawn sends the create and then never answers: the process "dies" mid-create. */
class DiesMidCreate implements Provider {
  readonly name = 'runpod';
  readonly gpusPerWorker = 1;
  constructor(private readonly real: RunpodProvider) {}
  spawn(req: SpawnRequest): Promise<PodInfo> {
    void this.real.spawn({ ...req, onStep: async () => {} }).catch(() => {});
    return new Promise<PodInfo>(() => {});
  }
  terminate(podId: string): Promise<void> {
    return this.real.terminate(podId);
  }
  list(): Promise<PodInfo[]> {
    return this.real.list();
  }
}

test('a reactor restarted after a crash mid-create finds the pod behind the lagging list instead of making a second one', async () => {
  await startApi();
  // the dying process sends one create and nothing after it
  const real = provider({ listLagMs: 0, retry: { maxAttempts: 1 } });
  h = await harness(pgliteBackend(), { provider: new DiesMidCreate(real), env: { MAX_ACTIVE_GPUS: String(CAP) } });
  h.source.set(1);
  await h.system.controller.runCycle();
  // the reactor acts and hangs in the create: the crash
  void h.system.reactor.catchUp();
  await waitFor(() => api.pods.size === 1, 'the create to reach RunPod');
  expect(await h.events('WorkerSpawnRequested')).toHaveLength(1);

  // a new process on the same store: its reactor re-handles the decision at once, while the list
  // does not show the pod yet
  const restarted = await h.restart({ provider: provider() });
  await restarted.reactor.catchUp();

  expect(api.duplicates().map((x) => x.name)).toEqual([]);
  expect(api.requestsTo('create')).toHaveLength(1);
  const spawned = await h.events('WorkerSpawned');
  expect(spawned.map((e) => [e.data.podId, e.data.recovered])).toEqual([[[...api.pods.keys()][0], true]]);
  const steps = (await h.events('WorkerSpawnUnclear')).map((e) => e.data.step);
  expect(steps).toEqual(['looking', 'found']);
});

test('a pod just made and not listed yet is not taken for lost (no replacement spawned)', async () => {
  api = await FakeRunpodApi.start({ apiKey: KEY, listLagMs: 60_000, readyOnCreate: true });
  // a normal 201; the list will not show the pod for a minute of real time
  h = await harness(pgliteBackend(), {
    provider: provider({ requestTimeoutMs: 5_000, listLagMs: 120_000 }),
    env: { MAX_ACTIVE_GPUS: String(CAP) },
  });
  h.source.set(1);
  await h.cycle();
  await h.cycle();
  await h.cycle();
  expect((await h.events('WorkerTerminated')).map((e) => e.data.reason)).toEqual([]);
  expect(api.requestsTo('create')).toHaveLength(1);
  expect(api.livePods()).toHaveLength(1);
});
