import { appRegistry, inPool, Streams } from '../../events/index';
import { ALL_PROJECTIONS } from '../../projections/index';
import { workersProjection } from '../../projections/workers';
import { readFleet } from '../../src/control/fleet';
import { ProjectionRunner } from '../../src/projections/runner';
import { applyToTable } from '../../src/projections/writer';
import { advanceCheckpoint } from '../../src/store/checkpoints';
import { type EventStore, type NewEvent, START } from '../../src/store/event-store';
import type { TestBackend } from '../helpers/backends';

/**
 * The contract of the control loop's typed reads (store.reads, src/store/reads.ts): the same
 * assertions on every store, so the SQL reads and the in-memory ones `simulate` runs on answer
 * alike. Only the store's API, its projection runner and its reads are used.
 */
/** The workers projection, as the runner takes it. */
const WORKERS = ALL_PROJECTIONS.filter((p) => p.name === workersProjection.name);

export function controlReadsContract(makeBackend: () => TestBackend): void {
  let backend: TestBackend;
  let store: EventStore;

  beforeAll(async () => {
    backend = makeBackend();
    await backend.ready?.();
  });
  afterAll(async () => {
    await backend.teardown();
  });
  beforeEach(async () => {
    store = await backend.open(appRegistry);
  });
  afterEach(async () => {
    await store.close();
  });

  const T0 = Date.parse('2026-11-27T18:00:00.000Z');
  /** The time `sec` seconds after T0, ISO 8601. */
  const at = (sec: number) => new Date(T0 + sec * 1000).toISOString();

  const observed = (cycle: number, queued: number, active = 0): NewEvent => ({
    type: 'TaskCountObserved',
    data: {
      cycle,
      at: at(cycle * 30),
      source: 'test',
      queued,
      active,
      total: queued + active,
      responseMs: 1,
      workers: null,
    },
  });
  const requested = (workerId: string, sec: number): NewEvent => ({
    type: 'WorkerSpawnRequested',
    data: {
      workerId,
      at: at(sec),
      cycle: 1,
      decisionEventId: 'd1',
      ordinal: 1,
      of: 1,
      idempotencyKey: workerId,
      provider: 'sim',
      gpus: 1,
    },
  });
  const spawned = (workerId: string, sec: number): NewEvent => ({
    type: 'WorkerSpawned',
    data: { workerId, at: at(sec), podId: `pod-${workerId}`, ordinal: 1, of: 1, recovered: false, details: {} },
  });
  const failed = (workerId: string, sec: number, kind: 'capacity' | 'auth'): NewEvent => ({
    type: 'WorkerSpawnFailed',
    data: { workerId, at: at(sec), ordinal: 1, of: 1, kind, error: `no (${kind})` },
  });
  const activated = (workerId: string, sec: number): NewEvent => ({
    type: 'WorkerActivated',
    data: { workerId, at: at(sec), podId: `pod-${workerId}` },
  });
  const terminated = (workerId: string, sec: number): NewEvent => ({
    type: 'WorkerTerminated',
    data: {
      workerId,
      at: at(sec),
      podId: `pod-${workerId}`,
      reason: 'idle',
      detail: 'idle',
      failed: false,
      exitCode: null,
      gpuSeconds: 10,
    },
  });
  const anomaly = (cycle: number, kind: 'rapid_scale_up' | 'task_count_spike'): NewEvent => ({
    type: 'AnomalyDetected',
    data: { cycle, at: at(cycle * 30), kind, message: kind, figures: {}, causes: [] },
  });
  const summary = (cycle: number): NewEvent => ({
    type: 'HealthSummaryRecorded',
    data: {
      cycle,
      at: at(cycle * 30),
      dbLoggingHealthy: true,
      lastTaskCount: null,
      lastWorkerCount: 0,
      workersByStatus: {},
      anomaliesSinceLast: 0,
      anomalyKinds: {},
    },
  });
  const condition = (cycle: number, type: 'AbleToScale' | 'SourceHealthy', status: 'True' | 'False'): NewEvent => ({
    type: 'ConditionChanged',
    data: {
      cycle,
      at: at(cycle * 30),
      type,
      status,
      reason: `${type}${status}`,
      message: 'test',
      since: at(cycle * 30),
      previous: null,
    },
  });

  const ids = (rows: { worker_id: string }[]) => rows.map((r) => r.worker_id).sort();

  test('checkpoint: the start until one is stored, then the stored one', async () => {
    expect(await store.reads.checkpoint('projection:workers')).toEqual(START);
    const { txId, globalPositions } = await store.append('controller', [observed(1, 1)]);
    const cp = { txId, position: globalPositions[0] };
    expect(await store.db.transaction((tx) => advanceCheckpoint(tx, 'projection:workers', START, cp))).toBe(true);
    expect(await store.reads.checkpoint('projection:workers')).toEqual(cp);
    expect(await store.reads.checkpoint('another')).toEqual(START);
  });

  test('committedAfter: the events of streams with the prefix after a checkpoint, in order; the prefix is literal', async () => {
    await store.append(Streams.worker('a'), [requested('a', 1)]);
    const mid = await store.append('controller', [observed(1, 1)]);
    await store.append(Streams.worker('b'), [requested('b', 2)]);
    await store.append(Streams.worker('a'), [spawned('a', 3)]);
    await store.append('workerXb', [requested('x', 4)]);

    const all = await store.reads.committedAfter(START, Streams.worker(''));
    expect(all.map((e) => [e.streamId, e.type])).toEqual([
      ['worker-a', 'WorkerSpawnRequested'],
      ['worker-b', 'WorkerSpawnRequested'],
      ['worker-a', 'WorkerSpawned'],
    ]);
    const after = await store.reads.committedAfter(
      { txId: mid.txId, position: mid.globalPositions[0] },
      Streams.worker(''),
    );
    expect(after.map((e) => e.streamId)).toEqual(['worker-b', 'worker-a']);
    // `_` and `%` match only themselves
    expect(await store.reads.committedAfter(START, 'worker_')).toEqual([]);
    expect(await store.reads.committedAfter(START, 'worker%')).toEqual([]);
  });

  test('workers by status or id, and statuses by id, follow the projection as workers change status', async () => {
    const projections = new ProjectionRunner(store, WORKERS);
    await store.append(Streams.worker('w1'), [requested('w1', 1)]);
    await store.append(Streams.worker('w2'), [requested('w2', 1), spawned('w2', 2), activated('w2', 3)]);
    await store.append(Streams.worker('w3'), [requested('w3', 1), failed('w3', 2, 'capacity')]);
    await store.append(Streams.worker('w4'), [requested('w4', 1), spawned('w4', 2), terminated('w4', 5)]);
    await projections.catchUp();

    expect(ids(await store.reads.workersByStatusOrId(['spawning', 'active', 'terminating'], []))).toEqual(['w1', 'w2']);
    expect(ids(await store.reads.workersByStatusOrId(['active'], ['w4', 'nobody']))).toEqual(['w2', 'w4']);
    expect(ids(await store.reads.workersByStatusOrId([], []))).toEqual([]);
    const [w2] = await store.reads.workersByStatusOrId(['active'], []);
    expect(w2).toMatchObject({ worker_id: 'w2', status: 'active', pod_id: 'pod-w2', provider: 'sim' });
    expect(await store.reads.workerStatuses(['w1', 'w2', 'w3', 'w4', 'nobody'])).toEqual(
      new Map([
        ['w1', 'spawning'],
        ['w2', 'active'],
        ['w3', 'failed'],
        ['w4', 'terminated'],
      ]),
    );

    // a worker that ends is no longer found by its old status; one that starts is found by its new one
    await store.append(Streams.worker('w2'), [terminated('w2', 9)]);
    await store.append(Streams.worker('w1'), [spawned('w1', 9), activated('w1', 10)]);
    await projections.catchUp();
    expect(ids(await store.reads.workersByStatusOrId(['active'], []))).toEqual(['w1']);
    expect(ids(await store.reads.workersByStatusOrId(['spawning'], []))).toEqual([]);
    expect((await store.reads.workerStatuses(['w2'])).get('w2')).toBe('terminated');
  });

  test("workers reads filter by pool: a worker is its events' pool; without a pool, every pool's", async () => {
    const projections = new ProjectionRunner(store, WORKERS);
    const inPool = (e: NewEvent, pool: string): NewEvent =>
      ({ ...e, data: { ...(e.data as object), pool } }) as NewEvent;
    await store.append(Streams.worker('d1'), [requested('d1', 1), spawned('d1', 2), activated('d1', 3)]);
    await store.append(Streams.worker('v1'), [inPool(requested('v1', 1), 'video'), inPool(spawned('v1', 2), 'video')]);
    await store.append(Streams.worker('v2'), [inPool(requested('v2', 1), 'video')]);
    await projections.catchUp();

    const live = ['spawning', 'active', 'terminating'] as const;
    expect(ids(await store.reads.workersByStatusOrId(live, []))).toEqual(['d1', 'v1', 'v2']);
    expect(ids(await store.reads.workersByStatusOrId(live, [], 'video'))).toEqual(['v1', 'v2']);
    expect(ids(await store.reads.workersByStatusOrId(live, [], 'default'))).toEqual(['d1']);
    expect(ids(await store.reads.workersByStatusOrId([], ['d1', 'v1'], 'video'))).toEqual(['v1']);
    expect(ids(await store.reads.workersByStatusOrId(live, [], 'image'))).toEqual([]);
    const [v1] = await store.reads.workersByStatusOrId([], ['v1']);
    expect(v1).toMatchObject({ worker_id: 'v1', pool: 'video', status: 'spawning' });
    expect(await store.reads.workerStatuses(['d1', 'v1', 'v2'], 'video')).toEqual(
      new Map([
        ['v1', 'spawning'],
        ['v2', 'spawning'],
      ]),
    );
    expect(await store.reads.workerStatuses(['d1', 'v1'])).toEqual(
      new Map([
        ['d1', 'active'],
        ['v1', 'spawning'],
      ]),
    );
  });

  test('the fleet read on them: the live workers of the projection and of the events past its checkpoint', async () => {
    const projections = new ProjectionRunner(store, WORKERS);
    await store.append(Streams.worker('w1'), [requested('w1', 1), spawned('w1', 2), activated('w1', 3)]);
    await store.append(Streams.worker('w2'), [requested('w2', 1), spawned('w2', 2)]);
    await projections.catchUp();
    // committed, not yet projected: a new request, and the end of w2
    await store.append(Streams.worker('w3'), [requested('w3', 4)]);
    await store.append(Streams.worker('w2'), [terminated('w2', 5)]);
    const fleet = await readFleet(store.reads);
    expect(fleet.map((w) => [w.workerId, w.status])).toEqual([
      ['w1', 'active'],
      ['w3', 'spawning'],
    ]);
  });

  test('observations in a window: [since, until), oldest first, with their figures', async () => {
    await store.append('controller', [observed(1, 5, 1)]);
    await store.append('controller', [observed(2, 6, 2), anomaly(2, 'rapid_scale_up')]);
    await store.append('controller', [observed(3, 7, 3)]);
    await store.append('controller', [observed(4, 8, 4)]);
    expect(await store.reads.observationsBetween(at(60), at(120))).toEqual([
      { cycle: 2, at: at(60), queued: 6, active: 2 },
      { cycle: 3, at: at(90), queued: 7, active: 3 },
    ]);
    expect((await store.reads.observationsBetween(at(0), at(1000))).map((o) => o.cycle)).toEqual([1, 2, 3, 4]);
    expect(await store.reads.observationsBetween(at(121), at(1000))).toEqual([]);
  });

  test('spawn outcomes in a window: spawned and failed, in position order, with their kind and error', async () => {
    await store.append(Streams.worker('a'), [requested('a', 10), spawned('a', 20)]);
    await store.append(Streams.worker('b'), [requested('b', 25), failed('b', 30, 'capacity')]);
    await store.append(Streams.worker('c'), [requested('c', 35), spawned('c', 40)]);
    await store.append(Streams.worker('d'), [requested('d', 45), failed('d', 50, 'auth')]);
    expect(await store.reads.spawnOutcomesBetween(at(20), at(50))).toEqual([
      { type: 'WorkerSpawned', at: at(20), kind: null, error: null },
      { type: 'WorkerSpawnFailed', at: at(30), kind: 'capacity', error: 'no (capacity)' },
      { type: 'WorkerSpawned', at: at(40), kind: null, error: null },
    ]);
    expect((await store.reads.spawnOutcomesBetween(at(0), at(60))).map((r) => r.at)).toEqual([
      at(20),
      at(30),
      at(40),
      at(50),
    ]);
    expect(await store.reads.spawnOutcomesBetween(at(51), at(60))).toEqual([]);
  });

  test('anomaly kinds since the last health summary (all of them before the first)', async () => {
    expect(await store.reads.anomalyKindsSinceLastSummary()).toEqual({});
    await store.append('controller', [anomaly(1, 'rapid_scale_up'), anomaly(1, 'task_count_spike')]);
    expect(await store.reads.anomalyKindsSinceLastSummary()).toEqual({ rapid_scale_up: 1, task_count_spike: 1 });
    await store.append('health', [summary(2)]);
    expect(await store.reads.anomalyKindsSinceLastSummary()).toEqual({});
    await store.append('controller', [anomaly(3, 'rapid_scale_up')]);
    await store.append('controller', [anomaly(4, 'rapid_scale_up')]);
    expect(await store.reads.anomalyKindsSinceLastSummary()).toEqual({ rapid_scale_up: 2 });
  });

  test('the last condition change of each type asked for, in position order', async () => {
    expect(await store.reads.lastConditionChanges(['AbleToScale'])).toEqual([]);
    await store.append('controller', [condition(1, 'AbleToScale', 'True'), condition(1, 'SourceHealthy', 'True')]);
    await store.append('controller', [condition(2, 'AbleToScale', 'False')]);
    const last = await store.reads.lastConditionChanges(['AbleToScale', 'SourceHealthy', 'StoreCurrent']);
    expect(
      last.map((e) => (e.type === 'ConditionChanged' ? [e.data.type, e.data.status, e.data.cycle] : e.type)),
    ).toEqual([
      ['SourceHealthy', 'True', 1],
      ['AbleToScale', 'False', 2],
    ]);
    expect(await store.reads.lastConditionChanges([])).toEqual([]);
  });

  /** A pool's decision (only the figures a want is read from matter here). */
  const decision = (pool: string, cycle: number, desired: number, wantWorkers?: number, quote?: number): NewEvent => ({
    type: 'ScalingDecided',
    data: {
      cycle,
      at: at(cycle * 30),
      pool,
      queued: desired,
      active: 0,
      total: desired,
      current: { active: 0, spawning: 0, total: 0 },
      busy: 0,
      idle: 0,
      policy: { name: 'default', settings: {}, terms: [], combine: 'byTasks' },
      desiredBeforeCaps: wantWorkers ?? desired,
      requested: wantWorkers ?? desired,
      limits: [],
      desired,
      decision: 'SCALE_UP',
      delta: desired,
      terminate: [],
      timedOut: [],
      reasons: [],
      settings: { MAX_WORKERS: 10, MAX_ACTIVE_GPUS: 10, GPU_IDLE_TIMEOUT_SEC: 60, SPAWNING_TIMEOUT_SEC: 600 },
      quoteUsdPerHour: quote ?? null,
      allocation:
        wantWorkers === undefined
          ? null
          : {
              caps: { gpus: 8 },
              shares: [
                {
                  pool,
                  priority: 0,
                  wantWorkers,
                  floorWorkers: 0,
                  gotWorkers: desired,
                  gpusPerWorker: 1,
                  limitedBy: 'GLOBAL_MAX_ACTIVE_GPUS',
                },
              ],
            },
    },
  });
  const inPoolOf = (pool: string, e: NewEvent): NewEvent => inPool(pool, [e])[0];

  test("a pool's history reads are its own: observations, spawn outcomes, anomalies and conditions of another pool are not", async () => {
    await store.append('controller', [
      observed(1, 5),
      anomaly(1, 'rapid_scale_up'),
      condition(1, 'AbleToScale', 'True'),
    ]);
    await store.append('controller@video', [
      inPoolOf('video', observed(1, 9)),
      inPoolOf('video', anomaly(1, 'task_count_spike')),
      inPoolOf('video', condition(1, 'AbleToScale', 'False')),
    ]);
    await store.append(Streams.worker('v'), [
      inPoolOf('video', requested('v', 10)),
      inPoolOf('video', spawned('v', 20)),
    ]);
    await store.append(Streams.worker('d'), [requested('d', 10), failed('d', 25, 'capacity')]);
    expect((await store.reads.observationsBetween(at(0), at(1000))).map((o) => o.queued)).toEqual([5]);
    expect((await store.reads.observationsBetween(at(0), at(1000), 'video')).map((o) => o.queued)).toEqual([9]);
    expect((await store.reads.spawnOutcomesBetween(at(0), at(1000), 'video')).map((r) => r.type)).toEqual([
      'WorkerSpawned',
    ]);
    expect((await store.reads.spawnOutcomesBetween(at(0), at(1000))).map((r) => r.type)).toEqual(['WorkerSpawnFailed']);
    expect(await store.reads.anomalyKindsSinceLastSummary('video')).toEqual({ task_count_spike: 1 });
    await store.append('health@video', [inPoolOf('video', summary(2))]);
    expect(await store.reads.anomalyKindsSinceLastSummary('video')).toEqual({});
    expect(await store.reads.anomalyKindsSinceLastSummary()).toEqual({ rapid_scale_up: 1 });
    const status = async (pool?: string) =>
      (await store.reads.lastConditionChanges(['AbleToScale'], pool)).map((e) =>
        e.type === 'ConditionChanged' ? e.data.status : e.type,
      );
    expect([await status(), await status('video'), await status('image')]).toEqual([['True'], ['False'], []]);
  });

  test("each pool's last want: its share's want when its decision records an allocation, else its desired count; with its price", async () => {
    expect(await store.reads.latestWants(['video', 'image'])).toEqual([]);
    await store.append('controller@video', [decision('video', 1, 4)]);
    await store.append('controller@image', [decision('image', 1, 2, 6, 0.69)]);
    await store.append('controller@video', [decision('video', 2, 5, undefined, 2.5)]);
    await store.append('controller', [decision('default', 2, 7)]);
    expect(await store.reads.latestWants(['video', 'image', 'audio'])).toEqual([
      { pool: 'image', at: at(30), wantWorkers: 6, usdPerWorker: 0.69 },
      { pool: 'video', at: at(60), wantWorkers: 5, usdPerWorker: 2.5 },
    ]);
    expect(await store.reads.latestWants(['default'])).toEqual([
      { pool: 'default', at: at(60), wantWorkers: 7, usdPerWorker: null },
    ]);
    // the budget's lock is taken in a transaction and let go with it
    await store.transaction(async (tx) => tx.reads.lockBudget());
    await store.transaction(async (tx) => tx.reads.lockBudget());
  });

  test("a transaction's reads see its own writes; a failed one leaves none of them to any read", async () => {
    const projections = new ProjectionRunner(store, WORKERS);
    await store.append(Streams.worker('w1'), [requested('w1', 1), spawned('w1', 2), activated('w1', 3)]);
    await projections.catchUp();
    await store.append('controller', [observed(1, 1)]);

    const inside = await store.transaction(async (tx) => {
      await tx.append('controller', [observed(2, 2)]);
      return tx.reads.observationsBetween(at(0), at(1000));
    });
    expect(inside.map((o) => o.cycle)).toEqual([1, 2]);

    await expect(
      store.transaction(async (tx) => {
        await tx.append('controller', [observed(3, 3), anomaly(3, 'rapid_scale_up')]);
        await tx.append(Streams.worker('w1'), [terminated('w1', 100)]);
        await tx.append(Streams.worker('w9'), [requested('w9', 100), spawned('w9', 101)]);
        expect((await tx.reads.observationsBetween(at(0), at(1000))).map((o) => o.cycle)).toEqual([1, 2, 3]);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect((await store.reads.observationsBetween(at(0), at(1000))).map((o) => o.cycle)).toEqual([1, 2]);
    expect(await store.reads.anomalyKindsSinceLastSummary()).toEqual({});
    expect(await store.reads.spawnOutcomesBetween(at(0), at(1000))).toEqual([
      { type: 'WorkerSpawned', at: at(2), kind: null, error: null },
    ]);
    expect(await store.reads.committedAfter(START, Streams.worker('w9'))).toEqual([]);

    // a projection batch that fails leaves the rows (and the statuses they are found by) as they were
    await store.append(Streams.worker('w1'), [terminated('w1', 200)]);
    const events = await store.reads.committedAfter(START, Streams.worker('w1'));
    await expect(
      store.db.transaction(async (tx) => {
        await applyToTable(tx, workersProjection, events);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(ids(await store.reads.workersByStatusOrId(['active'], []))).toEqual(['w1']);
    expect(ids(await store.reads.workersByStatusOrId(['terminated'], []))).toEqual([]);
    await projections.catchUp();
    expect(ids(await store.reads.workersByStatusOrId(['active'], []))).toEqual([]);
    expect(ids(await store.reads.workersByStatusOrId(['terminated'], []))).toEqual(['w1']);
  });
}
