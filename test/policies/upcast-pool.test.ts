import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { PoolName } from '../../events/common';
import { appRegistry } from '../../events/index';
import { rebuildProjections } from '../../src/projections/rebuild';
import type { EventStore } from '../../src/store/event-store';
import { loadMigrations, migrate } from '../../src/store/migrator';
import { pgliteBackend, postgresBackend, TEST_DATABASE_URL, type TestBackend } from '../helpers/backends';

const AT = '2026-11-27T18:25:42.000Z';

/** Events as a build before pools stored them: no `pool` field. */
const observed = { cycle: 3, at: AT, source: 'http', queued: 5, active: 1, total: 6, responseMs: 12, workers: null };
const requested = {
  workerId: 'w-1',
  at: AT,
  cycle: 3,
  decisionEventId: 'd-1',
  ordinal: 1,
  of: 1,
  idempotencyKey: 'k-1',
  provider: 'simulated',
  gpus: 1,
};

async function insertOld(store: EventStore): Promise<void> {
  for (const [stream, version, type, data] of [
    ['controller', 1, 'TaskCountObserved', observed],
    ['worker-w-1', 1, 'WorkerSpawnRequested', requested],
  ] as const) {
    await store.db.query(
      `insert into events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
       values ($1, $2, $3, $4, 1, $5::jsonb, '{}'::jsonb)`,
      [stream, version, randomUUID(), type, JSON.stringify(data)],
    );
  }
}

describe('events recorded before pools (no `pool` field)', () => {
  let backend: TestBackend;
  let store: EventStore;
  beforeAll(async () => {
    backend = pgliteBackend();
    store = await backend.open(appRegistry);
    await insertOld(store);
  });
  afterAll(async () => {
    await store.close();
    await backend.teardown();
  });

  test('read back as pool `default`; the stored rows are not rewritten', async () => {
    const [e] = await store.readStream('controller');
    expect(e.type).toBe('TaskCountObserved');
    expect(e.data).toEqual({ ...observed, pool: 'default' });
    const [w] = await store.readStream('worker-w-1');
    expect(w.data).toMatchObject({ workerId: 'w-1', pool: 'default' });
    const rows = await store.db.query<{ data: Record<string, unknown> }>(
      'select data from events order by global_position',
    );
    expect(rows.map((r) => 'pool' in r.data)).toEqual([false, false]);
  });

  test('a replay folds them into rows of pool default; an event of another pool into a row of its pool', async () => {
    await store.append('worker-v-1', [
      { type: 'WorkerSpawnRequested', data: { ...requested, workerId: 'v-1', idempotencyKey: 'k-2', pool: 'video' } },
    ]);
    await store.append('controller@video', [
      {
        type: 'AnomalyDetected',
        data: { cycle: 1, at: AT, pool: 'video', kind: 'spawning_timeout', message: 'm', figures: {}, causes: [] },
      },
    ]);
    await rebuildProjections(store);
    const workers = await store.db.query('select worker_id, pool from workers order by worker_id');
    expect(workers).toEqual([
      { worker_id: 'v-1', pool: 'video' },
      { worker_id: 'w-1', pool: 'default' },
    ]);
    expect(await store.db.query('select kind, pool from anomalies')).toEqual([
      { kind: 'spawning_timeout', pool: 'video' },
    ]);
  });
});

describe('every event type carries its pool', () => {
  test.each(appRegistry.types())('%s has a `pool` field', (type) => {
    const schema = appRegistry.get(type)?.schema;
    expect(schema).toBeInstanceOf(z.ZodObject);
    expect(Object.keys((schema as z.ZodObject).shape)).toContain('pool');
  });

  test('a pool name is a short identifier; a bad one is refused naming what is allowed', () => {
    expect(PoolName.safeParse('video-2').success).toBe(true);
    const bad = PoolName.safeParse('Video_2');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0].message).toBe("a pool name is 1 to 40 lowercase letters, digits and '-'");
    expect(PoolName.safeParse('x'.repeat(41)).success).toBe(false);
    expect(() =>
      appRegistry.encode('AnomalyDetected', {
        cycle: 1,
        at: AT,
        pool: 'A B',
        kind: 'spawning_timeout',
        message: '',
        figures: {},
        causes: [],
      }),
    ).toThrow(/pool: a pool name is/);
  });
});

describe.each([
  ['pglite', pgliteBackend],
  ...(TEST_DATABASE_URL ? [['postgres', postgresBackend] as const] : []),
] as const)('migration 0020 on a store from before pools [%s]', (_name, make) => {
  let backend: TestBackend;
  beforeAll(() => {
    backend = make();
  });
  afterAll(async () => {
    await backend.teardown();
  });

  test('rows from before pools are pool default: workers, decisions, anomalies, health summaries, tasks', async () => {
    const db = await backend.openDb();
    await migrate(
      db,
      loadMigrations().filter((m) => m.version < 20),
    );
    await db.query(`insert into workers (worker_id, status, last_position) values ('w-old', 'active', 1)`);
    await db.query(
      `insert into anomalies (event_id, global_position, cycle, detected_at, kind, message, figures, causes)
       values ('a-old', 2, 1, now(), 'spawning_timeout', '', '{}', '[]')`,
    );
    await db.query(`insert into tasks (status) values ('queued')`);
    await migrate(db);
    expect(await db.query('select pool from workers')).toEqual([{ pool: 'default' }]);
    expect(await db.query('select pool from anomalies')).toEqual([{ pool: 'default' }]);
    expect(await db.query('select pool from tasks')).toEqual([{ pool: 'default' }]);
    for (const table of ['scaling_decisions', 'health_summaries']) {
      const [col] = await db.query<{ column_default: string; is_nullable: string }>(
        `select column_default, is_nullable from information_schema.columns
          where table_schema = current_schema() and table_name = $1 and column_name = 'pool'`,
        [table],
      );
      expect({ table, ...col }).toEqual({ table, column_default: "'default'::text", is_nullable: 'NO' });
    }
    await db.close();
  });
});
