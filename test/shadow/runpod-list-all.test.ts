import { RunpodProvider } from '../../src/providers/runpod/index';
import { FakeRunpodApi } from '../fakes/runpod-api';

const KEY = 'rp_SECRET_key_do_not_leak_0042';
let api: FakeRunpodApi;
afterEach(async () => {
  await api?.stop();
});

test("RunPod's listAll lists every pod of the account (list only gpu-scaler's), followed over pages", async () => {
  api = await FakeRunpodApi.start({ apiKey: KEY, pageSize: 2 });
  api.addPod({ name: 'gpu-scaler-k1' });
  api.addPod({ name: 'reigh-worker-1' });
  api.addPod({ name: 'reigh-worker-2' });
  const provider = new RunpodProvider({
    apiKey: KEY,
    baseUrl: api.v2,
    gpuTypeIds: ['NVIDIA GeForce RTX 4090'],
    image: 'ghcr.io/acme/gpu-worker:1.2.3',
    env: {},
    clock: { now: () => new Date('2026-11-27T12:00:00.000Z'), sleep: async () => {} },
    random: () => 0.5,
    retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
    requestTimeoutMs: 5000,
    log: () => {},
  });
  expect((await provider.list()).map((p) => p.name)).toEqual(['gpu-scaler-k1']);
  expect((await provider.listAll()).map((p) => p.name).sort()).toEqual([
    'gpu-scaler-k1',
    'reigh-worker-1',
    'reigh-worker-2',
  ]);
});
