import type { Clock } from '../../src/clock';
import { accountOf, type FleetWorker } from '../../src/control/policy';
import {
  keyFromPodName,
  type PodInfo,
  type Provider,
  podName,
  type SpawnRequest,
  type WorkerQuote,
} from '../../src/providers/provider';
import { BACKENDS, decided, forEachBackend, harness } from '../helpers/harness';

/**
 * Workers asked for at 2 GPUs each (gpusPerWorker) that the provider places on 1 GPU at 0.30 USD/h,
 * quoting 0.50 USD/h for the next one: the recorded counts and prices differ from the provider's
 * defaults, so a pre-spawn check that counted the fleet its own way would disagree with the caps.
 */
class OneGpuPods implements Provider {
  readonly name = 'one-gpu';
  readonly gpusPerWorker = 2;
  readonly pods = new Map<string, PodInfo>();
  /** The USD/h left that the reactor passed with each spawn, in order. */
  readonly leftPerSpawn: (number | undefined)[] = [];
  private seq = 0;
  constructor(private readonly clock: Clock) {}
  async quote(): Promise<WorkerQuote> {
    return { gpus: 2, hourlyCostUsd: 0.5 };
  }
  async spawn(req: SpawnRequest): Promise<PodInfo> {
    this.leftPerSpawn.push(req.maxHourlyCostUsd);
    this.seq += 1;
    const pod: PodInfo = {
      podId: `one-${this.seq}`,
      name: podName(req.idempotencyKey),
      workerId: req.workerId,
      idempotencyKey: req.idempotencyKey,
      status: 'running',
      createdAt: this.clock.now().toISOString(),
      gpuCount: 1,
      hourlyCostUsd: 0.3,
    };
    this.pods.set(pod.podId, pod);
    return { ...pod };
  }
  async terminate(podId: string): Promise<void> {
    this.pods.delete(podId);
  }
  async list(): Promise<PodInfo[]> {
    return [...this.pods.values()].map((p) => ({ ...p, idempotencyKey: keyFromPodName(p.name) }));
  }
}

const w = (id: string, status: FleetWorker['status'], gpus: number | null, usd: number | null): FleetWorker => ({
  workerId: id,
  podId: null,
  status,
  requestedAt: '2026-11-27T18:00:00.000Z',
  activeAt: null,
  gpus,
  hourlyCostUsd: usd,
});

describe('the fleet account (what the caps and the pre-spawn check count)', () => {
  test('recorded GPUs, G for a worker recorded without; workers being terminated hold theirs; unknown prices said', () => {
    const a = accountOf(
      [w('a', 'active', 1, 0.3), w('b', 'spawning', null, null), w('c', 'terminating', 4, 1.2)],
      2,
      0.5,
    );
    expect(a).toMatchObject({
      liveWorkers: 2,
      holdingWorkers: 3,
      currentGpus: 1 + 2 + 4,
      heldByOthers: 4,
      oneGpuEach: false,
      burnUsdPerHour: null,
      unpricedWorkers: 1,
      quoteUsdPerHour: 0.5,
    });
    expect(a.knownBurnUsdPerHour).toBeCloseTo(1.5, 9);
    expect(accountOf([w('a', 'active', 1, 0.3), w('b', 'active', 1, 0.2)], 1, null)).toMatchObject({
      currentGpus: 2,
      oneGpuEach: true,
      burnUsdPerHour: 0.5,
    });
  });
});

forEachBackend('the reactor counts the fleet as the caps do', BACKENDS, (backend) => {
  let h: Awaited<ReturnType<typeof harness>>;
  afterEach(async () => {
    await h?.close();
  });

  test('every spawn a decision asks for under MAX_ACTIVE_GPUS passes the pre-spawn check, and the budget holds', async () => {
    h = await harness(backend(), { env: { MAX_ACTIVE_GPUS: '7', MAX_HOURLY_COST_USD: '10' } });
    const provider = new OneGpuPods(h.clock);
    const system = await h.restart({ provider });
    h.source.set(20); // wants 10 workers of 2 GPUs (MAX_WORKERS=10)
    const deltas: number[] = [];
    for (let i = 0; i < 5; i++) {
      const out = decided(await system.step());
      deltas.push(out.decision.delta);
      h.clock.advance(30_000);
    }
    // 7 GPUs at 2 a new worker, each placed on 1: 3 (0 live), then 2 (3 live), then 1 (5 live), then none (6)
    expect(deltas).toEqual([3, 2, 1, 0, 0]);
    expect(await h.events('WorkerSpawnFailed')).toEqual([]);
    expect((await h.events('WorkerSpawned')).length).toBe(6);
    const live = [...provider.pods.values()].reduce((n, p) => n + (p.gpuCount ?? 2), 0);
    expect(live).toBe(6);
    // what is left of MAX_HOURLY_COST_USD: 10 - the fleet at its recorded prices - the rest of the decision at the quote
    expect(provider.leftPerSpawn).toEqual([9, 9.2, 9.4, 8.6, 8.8, 8.5]);
  });
});
