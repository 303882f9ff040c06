import { systemClock } from '../../src/clock';
import { RunpodProvider } from '../../src/providers/runpod/index';
import { FakeRunpodApi } from '../fakes/runpod-api';
import { pgliteBackend } from '../helpers/backends';
import { harness } from '../helpers/harness';

// Cost sizing (#24, smaller): with MAX_HOURLY_COST_USD the decision is sized at the cheapest quote;
// placing in the configured order at a higher price made the extra spawns fail as capacity.

const KEY = 'rp_cost_key_0123456789abcdef';
let api: FakeRunpodApi;
let h: Awaited<ReturnType<typeof harness>> | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
  await api?.stop();
});

test('sized and placed at the same prices: every spawn the cost cap allowed is placed, within the cap', async () => {
  api = await FakeRunpodApi.start({ apiKey: KEY, readyOnCreate: true });
  // preferred first, and dearer; the quote is the cheaper one
  api.setGpu('NVIDIA A100', { price: { secure: 0.9, community: 0.9 }, availability: 'HIGH' });
  api.setGpu('NVIDIA L4', { price: { secure: 0.4, community: 0.4 }, availability: 'HIGH' });
  const provider = new RunpodProvider({
    apiKey: KEY,
    baseUrl: api.v2,
    gpuTypeIds: ['NVIDIA A100', 'NVIDIA L4'],
    image: 'ghcr.io/acme/worker:1',
    clock: systemClock,
  });
  h = await harness(pgliteBackend(), { provider, env: { MAX_HOURLY_COST_USD: '2.00' } });
  h.source.set(10);
  await h.cycle();
  const decision = (await h.events('ScalingDecided'))[0]?.data;
  expect(decision).toMatchObject({ decision: 'SCALE_UP', delta: 5, quoteUsdPerHour: 0.4 });
  expect(await h.events('WorkerSpawnFailed')).toEqual([]);
  const prices = (await h.events('WorkerSpawned')).map((e) => e.data.hourlyCostUsd);
  expect(prices).toEqual([0.4, 0.4, 0.4, 0.4, 0.4]);
  expect(prices.reduce((a, b) => (a ?? 0) + (b ?? 0), 0)).toBeLessThanOrEqual(2.0 + 1e-9);
});

test('with room to spare, the preferred (dearer) candidate is still placed first', async () => {
  api = await FakeRunpodApi.start({ apiKey: KEY, readyOnCreate: true });
  api.setGpu('NVIDIA A100', { price: { secure: 0.9, community: 0.9 }, availability: 'HIGH' });
  api.setGpu('NVIDIA L4', { price: { secure: 0.4, community: 0.4 }, availability: 'HIGH' });
  const provider = new RunpodProvider({
    apiKey: KEY,
    baseUrl: api.v2,
    gpuTypeIds: ['NVIDIA A100', 'NVIDIA L4'],
    image: 'ghcr.io/acme/worker:1',
    clock: systemClock,
  });
  h = await harness(pgliteBackend(), { provider, env: { MAX_HOURLY_COST_USD: '10.00' } });
  h.source.set(2);
  await h.cycle();
  expect(await h.events('WorkerSpawnFailed')).toEqual([]);
  expect((await h.events('WorkerSpawned')).map((e) => e.data.details.gpuTypeId)).toEqual([
    'NVIDIA A100',
    'NVIDIA A100',
  ]);
});
