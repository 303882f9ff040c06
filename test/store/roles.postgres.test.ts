/**
 * The least-privilege layout on a server (migrations/0008_roles.sql): the owner migrates, the
 * service runs as a login in gpu_scaler_writer. The writer can run the whole system (controller,
 * reactor, projections, system_logs, the leader lock) and can do none of the bypasses of the
 * append-only store a table owner can. Runs when TEST_DATABASE_URL is set.
 */
import postgres from 'postgres';
import { appRegistry } from '../../events/index';
import { postgresLeaderLock } from '../../src/control/leader';
import { openPostgresDb } from '../../src/store/db-postgres';
import type { EventStore } from '../../src/store/event-store';
import { storeOn } from '../../src/store/index';
import { loadMigrations, MigrationError, migrate, migrationStatus } from '../../src/store/migrator';
import { WRITER_ROLE } from '../../src/store/roles';
import { postgresBackend, TEST_DATABASE_URL, type TestBackend } from '../helpers/backends';
import { harness } from '../helpers/harness';

function loginUrl(user: string): string {
  const u = new URL(TEST_DATABASE_URL as string);
  u.username = user;
  u.password = '';
  return u.toString();
}

(TEST_DATABASE_URL ? describe : describe.skip)('the writer role (gpu_scaler_writer)', () => {
  let owner: TestBackend;
  let ownerStore: EventStore;
  let schema: string;
  let admin: postgres.Sql;
  let writerUser: string;
  let writerUrl: string;
  const opened: EventStore[] = [];

  /** A store on the owner's schema, connected as the writer login (it migrates nothing: all is applied). */
  async function openAsWriter(): Promise<EventStore> {
    const db = await openPostgresDb({ url: writerUrl, schema, max: 6 });
    const store = await storeOn(db, appRegistry);
    opened.push(store);
    return store;
  }

  beforeAll(async () => {
    owner = postgresBackend();
    ownerStore = await owner.open(appRegistry);
    schema = ownerStore.db.schema;
    admin = postgres(TEST_DATABASE_URL as string, { max: 1, onnotice: () => {} });
    writerUser = `gs_writer_${process.pid}`;
    await admin.unsafe(`drop role if exists ${writerUser}`);
    await admin.unsafe(`create role ${writerUser} login in role ${WRITER_ROLE}`);
    writerUrl = loginUrl(writerUser);
  });

  afterAll(async () => {
    for (const s of opened) await s.close().catch(() => {});
    await owner?.teardown();
    await admin?.unsafe(`drop owned by ${writerUser}`).catch(() => {});
    await admin?.unsafe(`drop role if exists ${writerUser}`).catch(() => {});
    await admin?.end();
  });

  test('runs full service cycles: controller, reactor, projections, system_logs, checkpoints, the leader lock', async () => {
    const lock = postgresLeaderLock(writerUrl, schema);
    try {
      expect(await lock.tryAcquire()).toEqual({ kind: 'leading' });
    } finally {
      await lock.release();
    }
    const h = await harness(
      { ...owner, open: async () => openAsWriter() },
      { source: 'tasks-table', env: { MAX_WORKERS: '3', SIM_TASK_SEC: '20' } },
    );
    try {
      await admin.unsafe(`insert into "${schema}".tasks (status) select 'queued' from generate_series(1, 3)`);
      for (let i = 0; i < 8; i++) await h.cycle();
      await h.logging.flush();
      const [r] = await admin.unsafe(
        `select (select count(*) from "${schema}".events where event_type = 'WorkerSpawned')::int as spawned,
                (select count(*) from "${schema}".workers)::int as workers,
                (select count(*) from "${schema}".scaling_decisions)::int as decisions,
                (select count(*) from "${schema}".system_logs)::int as logs,
                (select count(*) from "${schema}".projection_checkpoints)::int as checkpoints,
                (select count(*) from "${schema}".tasks where status <> 'queued')::int as claimed,
                (select array_agg(distinct usename::text) from pg_stat_activity
                  where datname = current_database() and application_name = 'gpu-scaler') as users`,
      );
      expect(r.spawned).toBe(3);
      expect(r.workers).toBe(3);
      expect(r.decisions).toBe(8);
      expect(r.logs).toBeGreaterThan(0);
      expect(r.checkpoints).toBeGreaterThanOrEqual(2);
      expect(r.claimed).toBe(3);
      expect(h.logging.dbStats()).toMatchObject({ healthy: true });
      // system_logs retention deletes rows
      const writer = opened[0];
      await writer.db.query('delete from system_logs where id = (select min(id) from system_logs)');
      const [after] = await admin.unsafe(`select count(*)::int as n from "${schema}".system_logs`);
      expect(after.n).toBe(r.logs - 1);
    } finally {
      await h.close();
    }
  });

  test('every bypass of the append-only store is refused, and the events are untouched', async () => {
    const writer = postgres(writerUrl, { max: 1, onnotice: () => {}, connection: { search_path: schema } });
    const state = async () => {
      const [s] = await admin.unsafe(
        `select (select count(*) from "${schema}".events)::int as events,
                (select max(global_position) from "${schema}".events)::int as last,
                (select string_agg(md5(data::text), ',' order by global_position) from "${schema}".events) as data,
                (select string_agg(tgenabled::text, '') from pg_trigger
                  where tgrelid = '"${schema}".events'::regclass and not tgisinternal) as triggers,
                (select count(*) from pg_tables where schemaname = '${schema}')::int as tables`,
      );
      return s;
    };
    try {
      const before = await state();
      expect(before.events).toBeGreaterThan(0);
      expect(before.triggers).toBe('O');
      const [one] = await writer.unsafe(
        'select event_id::text, stream_id from events order by global_position limit 1',
      );
      const forged = `'${one.stream_id}', 999999, gen_random_uuid(), 'WorkerSpawned', 1, '{}'::jsonb`;
      const bypasses: [string, RegExp][] = [
        ['set session_replication_role = replica', /permission denied to set parameter "session_replication_role"/],
        ['alter table events disable trigger events_append_only', /must be owner of table events/],
        ['alter table events disable trigger all', /must be owner of table events/],
        [
          `insert into events (stream_id, stream_version, event_id, event_type, schema_version, data, tx_id) values (${forged}, '1'::xid8)`,
          /permission denied for table events/,
        ],
        [
          `insert into events (stream_id, stream_version, event_id, event_type, schema_version, data, global_position) overriding system value values (${forged}, 1)`,
          /permission denied for table events/,
        ],
        [
          `insert into events (stream_id, stream_version, event_id, event_type, schema_version, data, recorded_at) values (${forged}, '2000-01-01')`,
          /permission denied for table events/,
        ],
        ["update events set data = '{}'::jsonb", /permission denied for table events/],
        ['delete from events', /permission denied for table events/],
        ['truncate events', /permission denied for table events/],
        ['drop table events', /must be owner of table events/],
        ['drop table workers', /must be owner of table workers/],
        ['drop function append_events(text, text, jsonb)', /must be owner of function append_events/],
        ['alter table events owner to current_user', /must be owner of table events/],
        ['create table scratch (a int)', /permission denied for schema/],
        [
          'create or replace function events_refuse_change() returns trigger language sql as $$select null$$',
          /must be owner of function events_refuse_change|permission denied for schema/,
        ],
        [`grant ${WRITER_ROLE} to current_user`, /permission denied to grant role|must have admin option/],
        [
          'insert into schema_migrations (version, name, checksum) values (9999, $$x$$, $$x$$)',
          /permission denied for table schema_migrations/,
        ],
        ['delete from tasks', /permission denied for table tasks/],
      ];
      for (const [statement, expected] of bypasses) {
        let message = 'it ran';
        try {
          await writer.unsafe(statement);
        } catch (err) {
          message = (err as Error).message;
        }
        expect({ statement, message }).toEqual({ statement, message: expect.stringMatching(expected) });
      }
      expect(await state()).toEqual(before);
      // A plain append through the store still works (what the service does).
      const store = await openAsWriter();
      await store.append('controller', [
        {
          type: 'TaskCountObserved',
          data: {
            cycle: 99,
            at: '2026-11-27T19:00:00.000Z',
            source: 'test',
            queued: 0,
            active: 0,
            total: 0,
            responseMs: 1,
            workers: null,
          },
        },
      ]);
      expect((await state()).events).toBe(before.events + 1);
    } finally {
      await writer.end();
    }
  });

  test('appends as the writer: the fast path, a retried batch (append_events) and a wrong version', async () => {
    const store = await openAsWriter();
    const data = (cycle: number) => ({
      cycle,
      at: '2026-11-27T19:00:00.000Z',
      source: 'test',
      queued: 0,
      active: 0,
      total: 0,
      responseMs: 1,
      workers: null,
    });
    const eventId = '8f0b7a52-4c59-4d3e-9c11-7b1a9a0f0001';
    const batch = [
      { type: 'TaskCountObserved', data: data(1), eventId },
      { type: 'TaskCountObserved', data: data(2), eventId: '8f0b7a52-4c59-4d3e-9c11-7b1a9a0f0002' },
    ] as const;
    const first = await store.append('writer-appends', [...batch], { expectedVersion: 'no_stream' });
    expect(first.duplicate).toBe(false);
    const retry = await store.append('writer-appends', [...batch], { expectedVersion: 'no_stream' });
    expect(retry).toMatchObject({ duplicate: true, globalPositions: first.globalPositions });
    await expect(
      store.append('writer-appends', [{ type: 'TaskCountObserved', data: data(3) }], { expectedVersion: 5 }),
    ).rejects.toThrow(/expected 5, actual 2|expected/);
  });

  test('with migrations pending, the writer does not try them and says what to run as the owner', async () => {
    const db = await openPostgresDb({ url: writerUrl, schema, max: 2 });
    try {
      const next = { version: 9999, name: '9999_next.sql', sql: 'create table next_thing (a int)', checksum: 'x' };
      const status = await migrationStatus(db, [...loadMigrations(), next]);
      expect(status).toMatchObject({ mayMigrate: false, user: writerUser, pending: [next] });
      const err = await migrate(db, [...loadMigrations(), next]).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MigrationError);
      expect((err as Error).message).toContain(
        `1 migration(s) are not applied (9999_next.sql) and the database user "${writerUser}" may not apply them`,
      );
      expect((err as Error).message).toContain('MIGRATE_DATABASE_URL=');
      const [t] = await admin.unsafe(`select to_regclass('"${schema}".next_thing') is null as absent`);
      expect(t.absent).toBe(true);
      // Up to date, the writer's migrate() is a no-op that takes no lock and writes nothing.
      expect(await migrate(db)).toEqual({ applied: [], current: loadMigrations().at(-1)?.version });
    } finally {
      await db.close();
    }
  });
});
