import { appRegistry } from '../../events/index';
import { ALL_PROJECTIONS } from '../../projections/index';
import { MAX_CONFLICTS_IN_A_ROW, ProjectionRunner } from '../../src/projections/runner';
import type { EventStore, NewEvent } from '../../src/store/event-store';
import { pgliteBackend } from '../helpers/backends';

// PGlite: no transaction of another database holds the catch-up reads back (a shared server may)
const backend = pgliteBackend();
beforeAll(() => backend.ready?.(), 120_000);
afterAll(() => backend.teardown());

const requested = (workerId: string): NewEvent => ({
  type: 'WorkerSpawnRequested',
  data: {
    workerId,
    at: '2026-12-06T09:00:00.000Z',
    cycle: 1,
    decisionEventId: 'd',
    ordinal: 1,
    of: 1,
    idempotencyKey: workerId,
    provider: 'runpod',
    gpus: 1,
  },
});

// Replicas run the projections side by side (docs/pools.md): a pool's cycle catches them up while
// another replica's runner moves the same checkpoints. In the replicas bench (two replicas, 12
// pools), one retry was not enough and cycles failed with "checkpoint ... was moved by another
// process"; a catch-up now goes on from the stored checkpoint as long as another process moves it.
test(`a catch-up goes on while another runner moves its checkpoint several times in a row (${backend.name})`, async () => {
  const store = await backend.open(appRegistry);
  try {
    await store.append('worker-w0', [requested('w0')]);
    const other = new ProjectionRunner(store, ALL_PROJECTIONS);
    // Each of this runner's first reads is overtaken: it reads a batch with a new event, and the
    // other runner applies that event before this one can record the batch.
    let overtake = 3;
    const overtaken: EventStore = Object.create(store);
    overtaken.readBatch = async (...args: Parameters<EventStore['readBatch']>) => {
      if (overtake === 0) return store.readBatch(...args);
      await store.append(`worker-w${overtake}`, [requested(`w${overtake}`)]);
      const batch = await store.readBatch(...args);
      await other.catchUp();
      overtake -= 1;
      return batch;
    };
    const runner = new ProjectionRunner(overtaken, ALL_PROJECTIONS);
    await expect(runner.catchUp()).resolves.toBeGreaterThanOrEqual(0);
    expect(overtake).toBe(0);
    const rows = await store.db.query<{ worker_id: string }>('select worker_id from workers order by worker_id');
    expect(rows.map((r) => r.worker_id)).toEqual(['w0', 'w1', 'w2', 'w3']);
  } finally {
    await store.close();
  }
}, 60_000);

test('a catch-up moved by another process without end gives up, naming the checkpoint', async () => {
  const store = await backend.open(appRegistry);
  try {
    await store.append('worker-x0', [requested('x0')]);
    const other = new ProjectionRunner(store, ALL_PROJECTIONS);
    let n = 0;
    const overtaken: EventStore = Object.create(store);
    overtaken.readBatch = async (...args: Parameters<EventStore['readBatch']>) => {
      n += 1;
      await store.append(`worker-y${n}`, [requested(`y${n}`)]);
      const batch = await store.readBatch(...args);
      await other.catchUp();
      return batch;
    };
    const runner = new ProjectionRunner(overtaken, ALL_PROJECTIONS);
    await expect(runner.catchUp()).rejects.toThrow(/checkpoint "projection:[a-z_]+" was moved by another process/);
    expect(n).toBe(MAX_CONFLICTS_IN_A_ROW + 1);
  } finally {
    await store.close();
  }
}, 120_000);
