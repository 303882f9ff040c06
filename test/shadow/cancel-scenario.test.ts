import { explain } from '../../src/explain/explain';
import { BACKENDS, decided, forEachBackend, harness } from '../helpers/harness';

forEachBackend('cancelled spawns', BACKENDS, (backend) => {
  let h: Awaited<ReturnType<typeof harness>>;
  afterEach(async () => {
    await h?.close();
  });

  test('a burst that clears while pods start: after two cycles of lower demand the newest spawns are cancelled', async () => {
    // pods take 5-8 minutes to start, so all are still spawning when the burst clears
    h = await harness(backend(), { env: { SIM_STARTUP_MIN_SEC: '300', SIM_STARTUP_MAX_SEC: '480' } });
    h.source.set(2);
    decided(await h.cycle());
    await h.system.reactor.catchUp();
    h.source.set(5);
    decided(await h.cycle());
    await h.system.reactor.catchUp();
    const spawned = (await h.events('WorkerSpawned')).map((e) => e.data.workerId);
    expect(spawned).toHaveLength(5);
    // the burst clears: one cycle of lower demand cancels nothing
    h.source.set(1);
    const first = decided(await h.cycle());
    expect(first.decision.cancel ?? []).toEqual([]);
    await h.system.reactor.catchUp();
    expect(await h.events('WorkerTerminated')).toEqual([]);
    // the second does: newest first (cycle 2's three, then one of cycle 1's)
    const second = decided(await h.cycle());
    const cancelled = (second.decision.cancel ?? []).map((t) => t.workerId);
    expect(cancelled).toHaveLength(5 - second.decision.desired);
    expect(cancelled.slice(0, 3).every((id) => id.startsWith('c2-'))).toBe(true);
    await h.system.reactor.catchUp();
    const ended = await h.events('WorkerTerminated');
    expect(ended.map((e) => e.data.workerId).sort()).toEqual([...cancelled].sort());
    expect(ended.every((e) => e.data.reason === 'cancelled' && !e.data.failed)).toBe(true);
    expect(ended[0].data.detail).toContain('for 2 cycles');
    // explain says what was cancelled and why
    const x = explain(await h.events(), { focusCycle: second.cycle });
    expect(x.conclusion).toContain(
      `decided to SCALE DOWN by ${cancelled.length}. ${cancelled.length} workers still spawning were cancelled, newest first (${cancelled.join(', ')}): no longer wanted: desired`,
    );
    expect(x.conclusion).toContain('none had taken a task.');
    expect(x.timeline.map((l) => l.text)).toContain(
      `🛑 CANCELLING ${cancelled.length} spawning workers no longer wanted (${cancelled.join(', ')})`,
    );
    // the pods are gone from the provider
    const live = (await h.provider.list()).map((p) => p.idempotencyKey);
    for (const id of cancelled) expect(live).not.toContain(id);
  });

  test('a spawning worker that holds a task is never cancelled', async () => {
    h = await harness(backend(), { env: { SIM_STARTUP_MIN_SEC: '300', SIM_STARTUP_MAX_SEC: '480' } });
    h.source.set(3);
    decided(await h.cycle());
    await h.system.reactor.catchUp();
    const ids = (await h.events('WorkerSpawned')).map((e) => e.data.workerId);
    // the newest one has taken a task (the source says so) even though its pod is not listed as up yet
    const busy = ids[ids.length - 1];
    h.source.answer = { queued: 0, active: 1, workers: [{ workerId: busy, activeTasks: 1, lastTaskAt: null }] };
    decided(await h.cycle());
    const second = decided(await h.cycle());
    const cancelled = (second.decision.cancel ?? []).map((t) => t.workerId);
    expect(cancelled.length).toBeGreaterThan(0);
    expect(cancelled).not.toContain(busy);
  });
});
