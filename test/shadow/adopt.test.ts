import { Readable } from 'node:stream';
import { runAdopt } from '../../src/cli/adopt';
import type { CliIo } from '../../src/cli/context';
import { runShadowReport } from '../../src/cli/shadow-report';
import type { PodInfo, Provider, SpawnRequest } from '../../src/providers/provider';
import type { SimulatedProvider } from '../../src/providers/simulated';
import { BACKENDS, Capture, decided, forEachBackend, harness } from '../helpers/harness';

const io = (): CliIo & { stdout: Capture } => ({
  stdout: new Capture(),
  stderr: new Capture(),
  stdin: Readable.from([]),
  env: {},
  isTTY: false,
});

const pod = (podId: string, name: string, status: PodInfo['status']): PodInfo => ({
  podId,
  name,
  workerId: null,
  idempotencyKey: null,
  status,
  createdAt: '2026-11-27T17:00:00.000Z',
  gpuCount: 1,
  hourlyCostUsd: 0.5,
});

/** A provider whose pods another orchestrator made (names of its own), and which records every call. */
class ForeignFleet implements Provider {
  readonly name = 'foreign';
  readonly gpusPerWorker = 1;
  readonly calls: string[] = [];
  pods: PodInfo[] = [
    pod('p1', 'reigh-worker-1', 'running'),
    pod('p2', 'reigh-worker-2', 'starting'),
    pod('p3', 'reigh-worker-3', 'exited'),
    pod('p4', 'gpu-scaler-c1-1-abcd', 'running'),
    pod('p5', 'someone-else', 'running'),
  ];
  async spawn(req: SpawnRequest): Promise<PodInfo> {
    this.calls.push(`spawn ${req.workerId}`);
    const p = {
      ...pod(`n-${req.workerId}`, `gpu-scaler-${req.idempotencyKey}`, 'starting'),
      idempotencyKey: req.idempotencyKey,
    };
    this.pods.push(p);
    return p;
  }
  async terminate(podId: string): Promise<void> {
    this.calls.push(`terminate ${podId}`);
    this.pods = this.pods.filter((p) => p.podId !== podId);
  }
  async list(): Promise<PodInfo[]> {
    return this.pods;
  }
}

forEachBackend('adopt and shadow-report', BACKENDS, (backend) => {
  let h: Awaited<ReturnType<typeof harness>>;
  afterEach(async () => {
    await h?.close();
  });

  test('adopt records one WorkerAdopted per pod with the prefix, not ours, not ended; they are workers from then on', async () => {
    const provider = new ForeignFleet();
    h = await harness(backend(), { provider, env: { RECONCILE_EVERY_CYCLES: '1' } });
    const out = io();
    await runAdopt(h.store, provider, out, { namePrefix: 'reigh-worker-', by: 'ana@ops-1' });
    const adopted = await h.events('WorkerAdopted');
    expect(adopted.map((e) => [e.streamId, e.data.podId, e.data.podStatus, e.data.by, e.data.pool])).toEqual([
      ['worker-reigh-worker-1', 'p1', 'running', 'ana@ops-1', 'default'],
      ['worker-reigh-worker-2', 'p2', 'starting', 'ana@ops-1', 'default'],
    ]);
    expect(out.stdout.text).toContain('skipped pod p3 (reigh-worker-3): it is exited');
    expect(out.stdout.text).toContain('2 pod(s) adopted from foreign with names starting "reigh-worker-", 1 skipped');

    // again: nothing new (they are workers already)
    const again = io();
    await runAdopt(h.store, provider, again, { namePrefix: 'reigh-worker-', by: 'ana@ops-1' });
    expect(await h.events('WorkerAdopted')).toHaveLength(2);
    expect(again.stdout.text).toContain('skipped pod p1 (reigh-worker-1): already worker reigh-worker-1');

    // a cycle counts them, and neither the fleet sync nor the orphan sweep ends them
    h.source.set(1, 1);
    const d = decided(await h.cycle());
    expect(d.decision.current).toMatchObject({ active: 1, spawning: 1, total: 2 });
    const ended = (await h.events('WorkerTerminated')).map((e) => e.data.workerId);
    expect(ended).not.toContain('reigh-worker-1');
    expect(ended).not.toContain('reigh-worker-2');
    const orphans = (await h.events('OrphanPodTerminated')).map((e) => e.data.podId);
    expect(orphans).not.toContain('p1');
    expect(orphans).not.toContain('p2');
    expect(provider.calls.filter((c) => c === 'terminate p1' || c === 'terminate p2')).toEqual([]);
  });

  test('an empty prefix is refused; a prefix no pod has says so', async () => {
    const provider = new ForeignFleet();
    h = await harness(backend(), { provider });
    await expect(runAdopt(h.store, provider, io(), { namePrefix: ' ' })).rejects.toThrow(/--name-prefix is required/);
    const none = io();
    await expect(runAdopt(h.store, provider, none, { namePrefix: 'nobody-' })).rejects.toThrow(
      'foreign lists no pod whose name starts "nobody-"',
    );
    expect(none.stdout.text).toBe('');
    expect(await h.events('WorkerAdopted')).toEqual([]);
  });

  test('shadow-report on a shadow run beside a fleet another process scales', async () => {
    h = await harness(backend(), { env: { MODE: 'shadow' } });
    // the other orchestrator: one pod per task, on the provider gpu-scaler only lists
    const other = h.provider as SimulatedProvider;
    let n = 0;
    const scaleOther = async (want: number) => {
      const live = await other.list();
      for (let i = live.length; i < want; i++)
        await other.spawn({ workerId: `old-${++n}`, idempotencyKey: `old-${n}` });
      for (const p of live.slice(want)) await other.terminate(p.podId);
    };
    for (const load of [4, 4, 4, 0, 0, 0]) {
      await scaleOther(load);
      h.source.set(load);
      decided(await h.cycle());
      await h.system.reactor.catchUp();
    }
    const out = io();
    await runShadowReport(h.store, out, {
      since: '2026-11-27T17:00:00Z',
      top: 3,
      json: true,
      now: h.clock.now().toISOString(),
    });
    const r = JSON.parse(out.stdout.text);
    expect(r.cycles).toBe(6);
    expect(r.spawns.actual).toBe(0); // the other fleet's 4 pods were there at the first listing (the baseline)
    expect(r.terminations.actual).toBe(4);
    expect(r.spawns.wouldBe).toBe((await h.events('ActionIntended')).filter((e) => e.data.action === 'spawn').length);
    expect(r.spawns.wouldBe).toBeGreaterThan(0);
    // the actual fleet: 4 GPUs for 3 cycles of 30 s, then none
    expect(r.gpuHours.actual).toBeCloseTo((4 * 3 * 30) / 3600, 3);
    expect(r.waits.peakQueued).toBe(4);
    expect(r.disagreements.length).toBeGreaterThan(0);
    // gpu-scaler made no pod of its own
    expect(await h.events('WorkerSpawnRequested')).toEqual([]);
  });
});
