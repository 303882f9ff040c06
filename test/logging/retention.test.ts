import { appRegistry } from '../../events/index';
import { pruneSystemLogs, SystemLogsPruner } from '../../src/logging/index';
import { type EventStore, openStore } from '../../src/store/index';

describe('system_logs retention', () => {
  let store: EventStore;
  beforeAll(async () => {
    store = await openStore({ target: 'memory://', registry: appRegistry, listen: false });
  });
  afterAll(async () => {
    await store.close();
  });
  const count = async (where = 'true') =>
    (await store.db.query<{ n: number }>(`select count(*)::int as n from system_logs where ${where}`))[0].n;
  const fill = async (rows: number, at: string) =>
    store.db.query(
      `insert into system_logs (created_at, source_type, source_id, log_level, message)
       select $1::timestamptz, 'test', 't', 'info', 'line ' || i from generate_series(1, $2::int) i`,
      [at, rows],
    );

  test('deletes rows older than the cutoff in batches, keeps the rest and every event', async () => {
    await store.db.query('delete from system_logs');
    await fill(2500, '2026-10-01T00:00:00Z');
    await fill(7, '2026-11-26T00:00:00Z');
    const statements: string[] = [];
    const query = store.db.query.bind(store.db);
    const spy = {
      ...store.db,
      query: (text: string, params?: readonly unknown[]) => {
        if (text.includes('delete from system_logs')) statements.push(text);
        return query(text, params);
      },
    } as typeof store.db;
    const deleted = await pruneSystemLogs(spy, new Date('2026-10-28T00:00:00Z'), { batch: 1000 });
    expect(deleted).toBe(2500);
    expect(statements).toHaveLength(3); // 1000 + 1000 + 500: small statements, never one big one
    expect(await count()).toBe(7);
    expect(await count("created_at < '2026-10-28'")).toBe(0);
  });

  test('the pruner uses SYSTEM_LOGS_RETENTION_DAYS from its clock and stops cleanly', async () => {
    await store.db.query('delete from system_logs');
    await fill(5, '2026-10-01T00:00:00Z');
    await fill(3, '2026-11-20T00:00:00Z');
    const pruned: number[] = [];
    const pruner = new SystemLogsPruner({
      db: store.db,
      retentionDays: 30,
      now: () => new Date('2026-11-27T00:00:00Z'),
      onPruned: (n) => pruned.push(n),
    });
    await pruner.runOnce();
    expect(pruned).toEqual([5]);
    expect(await count()).toBe(3);
    await pruner.stop();
    await pruner.runOnce(); // after stop: nothing more
    expect(await count()).toBe(3);
  });
});
