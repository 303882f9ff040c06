import { appRegistry } from '../../events/index';
import { FakeClock } from '../../src/clock';
import { SimulatedProvider } from '../../src/providers/simulated';
import { TasksTableSource } from '../../src/sources/tasks-table';
import type { EventStore } from '../../src/store/event-store';
import { SimulatedWorkers } from '../../src/workers/simulated';
import { pgliteBackend, type TestBackend } from '../helpers/backends';

describe('tasks-table: each pool counts and works its own tasks', () => {
  let backend: TestBackend;
  let store: EventStore;
  beforeAll(async () => {
    backend = pgliteBackend();
    store = await backend.open(appRegistry);
    // rows inserted as before pools (no pool: `default`), and rows of pool video
    await store.db.query(`insert into tasks(status) values ('queued'), ('queued'), ('active')`);
    await store.db.query(`insert into tasks(status, pool) values ('queued', 'video'), ('done', 'video')`);
  });
  afterAll(async () => {
    await store.close();
    await backend.teardown();
  });

  test('a row inserted without a pool is pool default', async () => {
    expect(await store.db.query(`select pool, count(*)::int as n from tasks group by pool order by pool`)).toEqual([
      { pool: 'default', n: 3 },
      { pool: 'video', n: 2 },
    ]);
  });

  test('the source counts only its pool (default when not named)', async () => {
    expect(await new TasksTableSource(store.db).fetch({ workerIds: [] })).toMatchObject({ queued: 2, active: 1 });
    expect(await new TasksTableSource(store.db, 'video').fetch({ workerIds: [] })).toMatchObject({
      queued: 1,
      active: 0,
    });
    expect(await new TasksTableSource(store.db, 'image').fetch({ workerIds: [] })).toMatchObject({
      queued: 0,
      active: 0,
    });
  });

  test('simulated workers of a pool take only that pool’s queued tasks', async () => {
    const clock = new FakeClock('2026-12-01T00:00:00.000Z');
    const provider = new SimulatedProvider({ clock, startupMinSec: 0, startupMaxSec: 0, failureRate: 0, seed: 1 });
    for (const id of ['v1', 'v2']) await provider.spawn({ workerId: id, idempotencyKey: id });
    clock.advance(1000);
    const workers = new SimulatedWorkers(store.db, provider, clock, 60, 'video');
    expect(await workers.tick()).toEqual({ finished: 0, claimed: 1 });
    expect(
      await store.db.query(`select pool, status, worker_id from tasks where worker_id is not null order by id`),
    ).toEqual([{ pool: 'video', status: 'active', worker_id: expect.stringMatching(/^v[12]$/) }]);
    expect(await new TasksTableSource(store.db).fetch({ workerIds: [] })).toMatchObject({ queued: 2, active: 1 });
  });
});
