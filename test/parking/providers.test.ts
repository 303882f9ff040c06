import type { Clock } from '../../src/clock';
import { FakeClock } from '../../src/clock';
import { ProviderError } from '../../src/providers/provider';
import { RunpodProvider } from '../../src/providers/runpod/index';
import { SimulatedProvider } from '../../src/providers/simulated';
import { FakeRunpodApi, START_REFUSED } from '../fakes/runpod-api';

const KEY = 'rp_parking_test_key_0123456789';
const NOW = '2026-12-06T02:00:00.000Z';
const clock: Clock = { now: () => new Date(NOW), sleep: async () => {} };

let api: FakeRunpodApi;
afterEach(async () => {
  await api?.stop();
});

function runpod() {
  return new RunpodProvider({
    apiKey: KEY,
    baseUrl: api.v2,
    gpuTypeIds: ['NVIDIA GeForce RTX 4090'],
    image: 'ghcr.io/acme/worker:1',
    clock,
    random: () => 0,
    retry: { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0 },
  });
}

describe('RunPod park and unpark: POST /pods/{id}/action (v2 podAction)', () => {
  test('park stops the pod (EXITED, GPU billing 0, disk kept) with exactly {"action":"stop"}; unpark starts it', async () => {
    api = await FakeRunpodApi.start({ apiKey: KEY, readyOnCreate: true, podCost: 0.44 });
    const p = runpod();
    const pod = await p.spawn({ workerId: 'w1', idempotencyKey: 'w1' });
    await p.park(pod.podId);
    expect(api.pods.get(pod.podId)?.status).toBe('EXITED');
    expect(api.pods.get(pod.podId)?.cost).toBe(0);
    expect(api.pods.get(pod.podId)?.actions).toEqual(['start', 'terminate']);
    const calls = api.requestsTo('action');
    expect(calls.map((c) => [c.method, c.path, c.body, c.status])).toEqual([
      ['POST', `/pods/${pod.podId}/action`, { action: 'stop' }, 200],
    ]);
    // listed as exited: what a parked pod is
    expect((await p.list()).find((x) => x.podId === pod.podId)?.status).toBe('exited');
    const started = await p.unpark(pod.podId);
    expect(started.status).toBe('running');
    expect(started.gpuCount).toBe(1);
    expect(api.pods.get(pod.podId)?.status).toBe('RUNNING');
    expect(api.requestsTo('action').map((c) => c.body)).toEqual([{ action: 'stop' }, { action: 'start' }]);
  });

  test('a stop sent again (409: not valid for EXITED) is fine; a start sent again to a running pod is fine', async () => {
    api = await FakeRunpodApi.start({ apiKey: KEY, readyOnCreate: true });
    const p = runpod();
    const pod = await p.spawn({ workerId: 'w1', idempotencyKey: 'w1' });
    await p.park(pod.podId);
    await p.park(pod.podId);
    expect(api.requestsTo('action').map((c) => c.status)).toEqual([200, 409]);
    await p.unpark(pod.podId);
    const again = await p.unpark(pod.podId);
    expect(again.status).toBe('running');
    expect(api.requestsTo('action').map((c) => c.status)).toEqual([200, 409, 200, 409]);
  });

  test("a refused start (400 not enough free GPUs on the host) is a 'capacity' error naming RunPod's answer", async () => {
    api = await FakeRunpodApi.start({ apiKey: KEY, readyOnCreate: true });
    const p = runpod();
    const pod = await p.spawn({ workerId: 'w1', idempotencyKey: 'w1' });
    await p.park(pod.podId);
    api.refuseStarts(pod.podId);
    const err = await p.unpark(pod.podId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe('capacity');
    expect((err as ProviderError).message).toContain(START_REFUSED);
    expect(api.pods.get(pod.podId)?.status).toBe('EXITED');
  });

  test('a pod that comes back without its GPUs, or is gone, counts as refused', async () => {
    api = await FakeRunpodApi.start({ apiKey: KEY, readyOnCreate: true });
    const p = runpod();
    const pod = await p.spawn({ workerId: 'w1', idempotencyKey: 'w1' });
    await p.park(pod.podId);
    api.startWithoutGpu(pod.podId);
    const noGpu = (await p.unpark(pod.podId).catch((e: unknown) => e)) as ProviderError;
    expect([noGpu.kind, noGpu.message]).toEqual(['capacity', expect.stringContaining('without its GPUs')]);
    await p.terminate(pod.podId);
    const gone = (await p.unpark(pod.podId).catch((e: unknown) => e)) as ProviderError;
    expect([gone.kind, gone.message]).toEqual(['capacity', expect.stringContaining('not found (404)')]);
  });

  test('the stand-in refuses any other body with 422 and a status the action does not allow with 409, as the spec says', async () => {
    api = await FakeRunpodApi.start({ apiKey: KEY, readyOnCreate: true });
    const pod = api.addPod({ name: 'gpu-scaler-x', status: 'RUNNING' });
    const post = (body: unknown) =>
      fetch(`${api.v2}/pods/${pod.id}/action`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post({ action: 'pause' })).status).toBe(422);
    expect((await post({ action: 'stop', force: true })).status).toBe(422);
    expect((await post({ action: 'start' })).status).toBe(409);
    expect((await post({ action: 'stop' })).status).toBe(200);
    const t = await post({ action: 'terminate' });
    expect(t.status).toBe(204);
    expect(api.pods.get(pod.id)?.status).toBe('TERMINATED');
  });
});

describe('simulated park and unpark', () => {
  test('a parked pod is exited and bills no GPU; starts succeed at the set share and are up within the set times', async () => {
    const c = new FakeClock(new Date(NOW));
    const p = new SimulatedProvider({
      clock: c,
      startupMinSec: 60,
      startupMaxSec: 60,
      failureRate: 0,
      seed: 1,
      unparkSuccess: 0.5,
      unparkMinSec: 10,
      unparkMaxSec: 20,
    });
    let ok = 0;
    let refused = 0;
    for (let i = 0; i < 200; i++) {
      const pod = await p.spawn({ workerId: `w${i}`, idempotencyKey: `w${i}` });
      await p.park(pod.podId);
      expect((await p.list()).find((x) => x.podId === pod.podId)?.status).toBe('exited');
      try {
        const up = await p.unpark(pod.podId);
        expect(up.status).toBe('starting');
        ok++;
      } catch (e) {
        expect((e as ProviderError).kind).toBe('capacity');
        refused++;
      }
    }
    expect(ok + refused).toBe(200);
    expect(ok / 200).toBeGreaterThan(0.38);
    expect(ok / 200).toBeLessThan(0.62);
    c.advance(20_000);
    const lives = p.lives();
    const unparked = lives.filter((l) => l.parked.length === 1 && l.parked[0][1] !== null);
    expect(unparked.length).toBe(ok);
    for (const l of unparked) {
      const from = l.parked[0][1] as number;
      expect(l.readyAt - from).toBeGreaterThanOrEqual(10_000);
      expect(l.readyAt - from).toBeLessThanOrEqual(20_000);
    }
    expect((await p.list()).filter((x) => x.status === 'running').length).toBe(ok);
  });
});
