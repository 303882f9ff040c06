import { DEFAULT_POOL, Streams } from '../../events/index';
import { type Clock, seededRandom } from '../../src/clock';
import { keyFromPodName, type PodInfo, type Provider, podName, type SpawnRequest } from '../../src/providers/provider';
import type { TaskSource } from '../../src/sources/source';
import type { System } from '../../src/system';
import { pgliteBackend, postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { BACKENDS, decided, forEachBackend, harness } from '../helpers/harness';

// biome-ignore lint/suspicious/noExplicitAny: event data in assertions
type Any = any;

/**
 * A provider whose creates answer after a seeded random delay (0 to `maxDelayTicks` ticks of a
 * real-time timer, i.e. several controller cycles): the pod exists, and bills, from the moment the
 * create is sent. It tracks the most pods alive at any instant.
 */
class SlowProvider implements Provider {
  readonly name = 'slow';
  readonly gpusPerWorker: number;
  readonly pods = new Map<string, PodInfo>();
  maxLive = 0;
  private seq = 0;
  private readonly random: () => number;
  private readonly pending: { due: number; resolve: () => void }[] = [];
  private ticks = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    seed: number,
    private readonly clock: Clock,
    private readonly maxDelayTicks = 8,
    gpusPerWorker = 1,
  ) {
    this.random = seededRandom(seed);
    this.gpusPerWorker = gpusPerWorker;
    this.timer = setInterval(() => this.tick(), 15);
  }

  liveGpus(): number {
    let n = 0;
    for (const p of this.pods.values()) n += p.gpuCount ?? this.gpusPerWorker;
    return n;
  }

  private tick(): void {
    this.ticks += 1;
    for (const p of this.pending.filter((x) => x.due <= this.ticks)) {
      this.pending.splice(this.pending.indexOf(p), 1);
      p.resolve();
    }
  }

  async spawn(req: SpawnRequest): Promise<PodInfo> {
    const name = podName(req.idempotencyKey);
    const found = [...this.pods.values()].find((p) => p.name === name);
    if (found) return { ...found, existing: true };
    this.seq += 1;
    const pod: PodInfo = {
      podId: `slow-${this.seq}`,
      name,
      workerId: req.workerId,
      idempotencyKey: req.idempotencyKey,
      status: 'running',
      createdAt: this.clock.now().toISOString(),
      gpuCount: this.gpusPerWorker,
      hourlyCostUsd: null,
    };
    this.pods.set(pod.podId, pod);
    this.maxLive = Math.max(this.maxLive, this.liveGpus());
    const delay = Math.floor(this.random() * (this.maxDelayTicks + 1));
    if (delay > 0) await new Promise<void>((resolve) => this.pending.push({ due: this.ticks + delay, resolve }));
    return { ...pod };
  }

  async terminate(podId: string): Promise<void> {
    this.pods.delete(podId);
  }

  async list(): Promise<PodInfo[]> {
    return [...this.pods.values()].map((p) => ({ ...p, idempotencyKey: keyFromPodName(p.name) }));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}

/** Bursts of work: a seeded sequence of queued counts, 0 to 30. */
class BurstSource implements TaskSource {
  readonly name = 'bursts';
  private readonly random: () => number;
  constructor(seed: number) {
    this.random = seededRandom(seed);
  }
  async fetch(): Promise<unknown> {
    const r = this.random();
    return { queued: r < 0.35 ? 0 : Math.floor(this.random() * 31), active: 0 };
  }
}

const BUDGET = 4;
const CYCLES = 24;
const RESTART_EVERY = 8;

forEachBackend(
  'the GPU budget',
  { pglite: pgliteBackend, postgres: () => postgresBackend(), hasServer: !!TEST_DATABASE_URL },
  (backend) => {
    let h: Awaited<ReturnType<typeof harness>>;
    afterEach(async () => {
      await h?.close();
    });

    const trial = async (seed: number) => {
      h = await harness(backend(), {
        env: { MAX_ACTIVE_GPUS: String(BUDGET), MAX_WORKERS: '10', GPU_IDLE_TIMEOUT_SEC: '60', SIM_SEED: String(seed) },
      });
      const provider = new SlowProvider(seed, h.clock);
      const source = new BurstSource(seed);
      const build = () => h.restart({ provider, source, reactorWaitMs: 5000 }); // the service's wait
      let system: System = await build();
      system.reactor.start(); // the reactor runs beside the loop, as in the service
      try {
        for (let i = 1; i <= CYCLES; i++) {
          await system.projections.catchUp();
          await system.controller.runCycle();
          h.clock.advance(30_000);
          if (i % RESTART_EVERY === 0) {
            // a restart: the old reactor finishes what it holds, a new system is built on the store
            await system.reactor.stop();
            system = await build();
            system.reactor.start();
          }
        }
        await system.reactor.stop();
      } finally {
        await provider.close();
      }
      return { maxLive: provider.maxLive, refused: await h.events('WorkerSpawnFailed') };
    };

    test('live pods never exceed MAX_ACTIVE_GPUS with slow creates, a running reactor and restarts', async () => {
      const peaks: number[] = [];
      for (const seed of [1, 2, 3, 4, 5]) {
        const { maxLive } = await trial(seed);
        peaks.push(maxLive);
        await h.close();
        h = undefined as Any;
      }
      // all trials reached the budget (so the check is not vacuous), none passed it
      expect(peaks.map((p) => Math.min(p, BUDGET))).toEqual([BUDGET, BUDGET, BUDGET, BUDGET, BUDGET]);
      expect(peaks).toEqual(peaks.map(() => BUDGET));
    }, 180_000);
  },
);

forEachBackend(
  'the reactor keeps the budget',
  { pglite: pgliteBackend, postgres: () => postgresBackend(), hasServer: !!TEST_DATABASE_URL },
  (backend) => {
    let h: Awaited<ReturnType<typeof harness>>;
    afterEach(async () => {
      await h?.close();
    });

    test('a decision made from an old fleet is cut at the budget: the rest is refused as blocked, not a worker failure', async () => {
      h = await harness(backend(), { env: { MAX_ACTIVE_GPUS: '3' } });
      h.source.set(2);
      await h.cycle(); // 2 workers
      // a decision that still believed the fleet was empty (what a stale read recorded)
      const [first] = await h.events('ScalingDecided');
      const stale = { ...first.data, cycle: 99, delta: 3, desired: 3 };
      // on the pool's controller stream: the only stream its reactor reads decisions from
      await h.store.append(Streams.controller(DEFAULT_POOL), [{ type: 'ScalingDecided', data: stale }]);
      await h.system.reactor.catchUp();
      expect((await h.provider.list()).length).toBe(3);
      const failed = (await h.events('WorkerSpawnFailed')).map((e) => e.data);
      expect(failed.map((f) => [f.ordinal, f.kind])).toEqual([
        [2, 'blocked'],
        [3, 'blocked'],
      ]);
      expect(failed[0].error).toBe(
        'refused by the GPU budget: the live fleet has 3 GPU(s) (3 worker(s)), one more worker of 1 GPU(s) would make 4 > MAX_ACTIVE_GPUS=3',
      );
      // refusals are not worker failures: the next decision is not blocked by the circuit breaker
      await h.system.controller.init(); // the controller reads its stream again (the stale decision is on it)
      h.source.set(3);
      const next = decided(await h.cycle());
      expect(next.decision.spawnBlocked).toBeNull();
    });
  },
);

forEachBackend('the emergency stop', BACKENDS, (backend) => {
  let h: Awaited<ReturnType<typeof harness>>;
  afterEach(async () => {
    await h?.close();
  });

  test('MAX_ACTIVE_GPUS=0 spawns nothing and removes the workers idle past GPU_IDLE_TIMEOUT_SEC, spares too; a busy one keeps running', async () => {
    const env = { GPU_IDLE_TIMEOUT_SEC: '120', MACHINES_TO_KEEP_IDLE: '2' };
    h = await harness(backend(), { env });
    h.source.set(3);
    await h.cycle(); // 3 tasks: 3 workers (2 of them the spares MACHINES_TO_KEEP_IDLE keeps)
    h.source.set(0);
    await h.cycle(); // they are up
    const live = async () => (await h.provider.list()).length;
    expect(await live()).toBe(3);
    const statuses = async () =>
      (await h.store.db.query<{ status: string }>('select status from workers order by worker_id')).map(
        (r) => r.status,
      );
    expect(await statuses()).toEqual(['active', 'active', 'active']);

    // the operator restarts with the emergency stop; 5 tasks wait and one runs (on a worker the source cannot name)
    const stopped = await h.restart({ env: { ...env, MAX_ACTIVE_GPUS: '0' } });
    h.source.set(5, 1);
    const early = decided(await stopped.step()).decision;
    expect(early).toMatchObject({ desired: 0, decision: 'MAINTAIN', delta: 0, terminate: [] });
    expect(early.limits.map((l) => [l.name, l.to])).toEqual([['MAX_ACTIVE_GPUS', 0]]);

    h.clock.advance(120_000); // now idle past the timeout
    const late = decided(await stopped.step()).decision;
    expect(late).toMatchObject({ desired: 0, decision: 'SCALE_DOWN', delta: 2 });
    expect(late.reasons).toContain(
      '1 worker(s) over desired kept: not idle for GPU_IDLE_TIMEOUT_SEC=120s, still spawning, or holding a task',
    );
    expect(await live()).toBe(1);
    expect((await statuses()).sort()).toEqual(['active', 'terminated', 'terminated']);
    expect(await h.events('WorkerSpawnRequested')).toHaveLength(3); // nothing spawned after the stop
  });
});
