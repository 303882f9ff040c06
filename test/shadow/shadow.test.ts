import { decisionLines } from '../../src/cli/status';
import { explain } from '../../src/explain/explain';
import { SHADOW_NOTE } from '../../src/policies/render';
import { recentDecisions } from '../../src/projections/dashboard-queries';
import type { PodInfo, Provider, SpawnRequest } from '../../src/providers/provider';
import { SimulatedProvider } from '../../src/providers/simulated';
import { BACKENDS, decided, forEachBackend, harness } from '../helpers/harness';

/** A provider that records every call and forwards it to a simulated one (the fleet something else runs). */
class RecordingProvider implements Provider {
  readonly name = 'recording';
  readonly gpusPerWorker = 1;
  readonly calls: string[] = [];
  /** Set once the harness (and its clock) exists. */
  inner!: SimulatedProvider;
  async spawn(req: SpawnRequest): Promise<PodInfo> {
    this.calls.push(`spawn ${req.workerId}`);
    return this.inner.spawn(req);
  }
  async terminate(podId: string): Promise<void> {
    this.calls.push(`terminate ${podId}`);
    return this.inner.terminate(podId);
  }
  async list(): Promise<PodInfo[]> {
    this.calls.push('list');
    return this.inner.list();
  }
}

forEachBackend('shadow mode', BACKENDS, (backend) => {
  let h: Awaited<ReturnType<typeof harness>>;
  let provider: RecordingProvider;
  afterEach(async () => {
    await h?.close();
  });

  const start = async (env: Record<string, string> = {}) => {
    provider = new RecordingProvider();
    h = await harness(backend(), { env: { MODE: 'shadow', RECONCILE_EVERY_CYCLES: '1', ...env }, provider });
    const other = new SimulatedProvider({
      clock: h.clock,
      startupMinSec: 5,
      startupMaxSec: 10,
      failureRate: 0,
      seed: 1,
    });
    provider.inner = other;
    // a pod of the fleet another orchestrator manages (with our prefix: an orphan to an active sweep)
    await other.spawn({ workerId: 'old-1', idempotencyKey: 'old-1' });
    await other.spawn({ workerId: 'old-2', idempotencyKey: 'old-2' });
  };

  test('decides, records intended actions, lists the pods, and never creates or deletes one', async () => {
    await start();
    h.source.set(3);
    const first = decided(await h.cycle());
    expect(first.decision).toMatchObject({ decision: 'SCALE_UP', delta: 3, mode: 'shadow' });
    await h.system.reactor.catchUp();
    const intended = await h.events('ActionIntended');
    expect(intended.map((e) => [e.data.action, e.data.reason, e.data.pool])).toEqual([
      ['spawn', 'scale_up', 'default'],
      ['spawn', 'scale_up', 'default'],
      ['spawn', 'scale_up', 'default'],
    ]);
    // the would-be fleet is what the next decision counts: no second scale-up
    const second = decided(await h.cycle());
    expect(second.decision).toMatchObject({ decision: 'MAINTAIN', current: { total: 3 } });
    // demand gone: after the idle time the would-be workers are terminated, in intent only
    h.source.set(0);
    for (let i = 0; i < 40; i++) await h.cycle();
    await h.system.reactor.catchUp();
    const ends = (await h.events('ActionIntended')).filter((e) => e.data.action === 'terminate');
    expect(ends.length).toBeGreaterThan(0);
    expect(ends.every((e) => e.data.reason === 'idle')).toBe(true);

    // the provider was only ever listed: no create, no delete, no orphan sweep of the other fleet
    expect(provider.calls.filter((c) => c !== 'list')).toEqual([]);
    expect(provider.calls.length).toBeGreaterThan(0);
    expect(await h.events('WorkerSpawnRequested')).toEqual([]);
    expect(await h.events('OrphanPodTerminated')).toEqual([]);
    const observed = await h.events('FleetObserved');
    expect(observed.length).toBe((await h.events('ScalingDecided')).length);
    expect(observed[0].data).toMatchObject({ pods: 2, gpus: 2, pool: 'default' });

    // explain and the log say it was shadow and nothing was done
    const decisions = await h.events('ScalingDecided');
    expect(decisions.every((e) => e.data.mode === 'shadow')).toBe(true);
    const x = explain([...decisions, ...intended], { focusCycle: 1 });
    expect(x.conclusion).toContain(`The decision was ${SHADOW_NOTE}.`);
    expect(x.timeline.map((l) => l.text)).toContain(
      '🕶️ SHADOW, nothing done: would be 🚀 SCALING UP: Creating 3 new workers',
    );
    // status and the dashboard read the decisions table: both say it
    await h.system.projections.catchUp();
    const [row] = await h.store.db.query<Record<string, unknown>>(
      'select * from scaling_decisions order by cycle desc limit 1',
    );
    expect(decisionLines(row, h.clock.now(), true)).toContain(`  mode      ${SHADOW_NOTE}`);
    const [recent] = await recentDecisions(h.store.db, 1);
    expect(recent).toMatchObject({ mode: 'shadow', modeNote: SHADOW_NOTE });
    await h.logging.flush();
    expect(h.stdout.text).toContain('[shadow: nothing done]');
    expect(h.stdout.text).toContain('🕶️ SHADOW, nothing done: would be 🚀 SCALING UP: Creating 3 new workers');
  });

  test('an active run on the same provider sweeps the other fleet as orphans (what shadow must not do)', async () => {
    await start({ MODE: 'active' });
    h.source.set(1);
    decided(await h.cycle());
    await h.system.reactor.catchUp();
    expect(provider.calls.some((c) => c.startsWith('spawn'))).toBe(true);
    expect(provider.calls.some((c) => c.startsWith('terminate'))).toBe(true);
    const d = await h.events('ScalingDecided');
    expect(d[0].data.mode).toBe('active');
  });
});
