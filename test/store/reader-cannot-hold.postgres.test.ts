/**
 * The read-only login cannot hold the controller (issue #24.2). Advisory locks and transaction ids
 * need no grant, so before: the reader taking the leader's advisory key made every controller stand
 * by, taking a stream's key stopped its appends, and an open transaction with an xid held every
 * catch-up reader (the reactor: spawns) back for as long as it stayed open. Runs in a database of
 * its own (sessions of other databases do not count for its readers), when TEST_DATABASE_URL is set.
 */
import postgres from 'postgres';
import { appRegistry } from '../../events/index';
import { conditionText, nextConditions } from '../../src/control/conditions';
import { postgresLeaderLock } from '../../src/control/leader';
import { openPostgresDb } from '../../src/store/db-postgres';
import { type EventStore, START } from '../../src/store/event-store';
import { storeOn } from '../../src/store/index';
import { readsHeldBackBy } from '../../src/store/read-horizon';
import { READER_ROLE, WRITER_ROLE } from '../../src/store/roles';
import { StoreWatch } from '../../src/store/store-watch';
import { postgresBackend, TEST_DATABASE_URL, type TestBackend } from '../helpers/backends';
import { waitFor } from '../helpers/wait';

const observed = (cycle: number) => ({
  type: 'TaskCountObserved' as const,
  data: {
    cycle,
    at: '2026-12-05T23:00:00.000Z',
    source: 'test',
    queued: 1,
    active: 0,
    total: 1,
    responseMs: 1,
    workers: null,
  },
});

/** Settles with 'done', or with 'still waiting' when `p` has not settled after `ms` (a hang, not a timing). */
function finishes<T>(p: Promise<T>, ms = 20_000): Promise<'done' | 'still waiting'> {
  return Promise.race([
    p.then(() => 'done' as const),
    new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), ms).unref()),
  ]);
}

(TEST_DATABASE_URL ? describe : describe.skip)('the reader login cannot hold the controller', () => {
  const dbName = `gs_dbsafety_${process.pid}_${Date.now().toString(36)}`;
  const suffix = `${process.pid}`;
  const readerUser = `gs_reader_${suffix}`;
  const writerUser = `gs_writer_hold_${suffix}`;
  let admin: postgres.Sql;
  let dbUrl: string;
  let backend: TestBackend;
  let owner: EventStore;
  let schema: string;
  let reader: postgres.Sql;
  let writer: EventStore;

  const loginUrl = (user: string) => {
    const u = new URL(dbUrl);
    u.username = user;
    u.password = '';
    return u.toString();
  };

  beforeAll(async () => {
    admin = postgres(TEST_DATABASE_URL as string, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${dbName}`);
    const u = new URL(TEST_DATABASE_URL as string);
    u.pathname = `/${dbName}`;
    dbUrl = u.toString();
    backend = postgresBackend(dbUrl);
    owner = await backend.open(appRegistry);
    schema = owner.db.schema;
    for (const [user, role] of [
      [readerUser, READER_ROLE],
      [writerUser, WRITER_ROLE],
    ]) {
      await admin.unsafe(`drop role if exists ${user}`);
      await admin.unsafe(`create role ${user} login in role ${role}`);
    }
    reader = postgres(loginUrl(readerUser), {
      max: 1,
      onnotice: () => {},
      connection: { search_path: schema, application_name: 'the-reader' },
    });
    writer = await storeOn(await openPostgresDb({ url: loginUrl(writerUser), schema, max: 4 }), appRegistry, false);
  });

  afterAll(async () => {
    await writer?.close();
    await reader?.end({ timeout: 1 });
    await owner?.close();
    await backend?.teardown();
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    for (const user of [readerUser, writerUser]) await admin.unsafe(`drop role if exists ${user}`).catch(() => {});
    await admin.end();
  });

  test('leadership: the leader advisory key is nothing now; the lease row is the writer’s alone', async () => {
    // what stood every controller by before
    await reader.unsafe(`select pg_advisory_lock(2002, hashtext('gpu-scaler:${schema}'))`);
    const first = postgresLeaderLock(loginUrl(writerUser), schema);
    const second = postgresLeaderLock(loginUrl(writerUser), schema);
    try {
      expect(await first.tryAcquire()).toEqual({ kind: 'leading' });
      expect(await second.tryAcquire()).toEqual({ kind: 'other' });
      expect(await first.tryAcquire()).toEqual({ kind: 'leading' }); // renewed
      for (const statement of [
        `update controller_lease set holder = 'the-reader', expires_at = 'infinity'`,
        'select * from controller_lease for update',
        'select * from controller_lease for key share',
        'lock table controller_lease in exclusive mode',
      ]) {
        await expect(reader.begin((tx) => tx.unsafe(statement))).rejects.toThrow(/permission denied/);
      }
      // the leader's process dies: its connection goes, and the other takes over at once
      const [{ n }] = await owner.db.query<{ n: number }>(
        `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
          where datname = current_database() and application_name = 'gpu-scaler-leader'
            and pid = (select holder_pid from controller_lease)`,
      );
      expect(n).toBe(1);
      await waitFor(
        async () => (await second.tryAcquire()).kind === 'leading',
        'the second controller to take the lease',
      );
      const [lease] = await owner.db.query<{ holder: string }>('select holder from controller_lease');
      expect(lease.holder).toMatch(/:\d+:/);
    } finally {
      await first.release();
      await second.release();
      await reader.unsafe('select pg_advisory_unlock_all()');
    }
  });

  test('appends: the stream advisory key holds nothing; the stream rows are the writer’s alone', async () => {
    // what stopped every cycle before: the controller stream's lock, held by the reader
    await reader.unsafe(`select pg_advisory_lock(2000, hashtext('controller'))`);
    try {
      expect(await finishes(writer.append('controller', [observed(1)]))).toBe('done'); // the fast path
      expect(await finishes(writer.transaction((tx) => tx.append('controller', [observed(2)])))).toBe('done'); // append_events
      expect(await writer.streamVersion('controller')).toBe(2);
      for (const statement of [
        `insert into stream_locks (stream_id) values ('controller') on conflict do nothing`,
        'select * from stream_locks for update',
        'select * from stream_locks',
        'lock table stream_locks in access share mode',
      ]) {
        await expect(reader.begin((tx) => tx.unsafe(statement))).rejects.toThrow(/permission denied/);
      }
    } finally {
      await reader.unsafe('select pg_advisory_unlock_all()');
    }
  });

  test("reads: the reader's open transaction holds no catch-up reader back; a writer's is named, pid and login", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started!: () => void;
    const open = new Promise<void>((r) => {
      started = r;
    });
    const held = reader.begin(async (tx) => {
      await tx.unsafe('select pg_current_xact_id()');
      started();
      await gate;
    });
    try {
      await open;
      const res = await writer.append('reads', [observed(3)]);
      // before: nothing newer than the reader's transaction was readable until it ended
      const seen = await waitFor(
        async () =>
          (await writer.readBatch(START, 1000)).events.find((e) => e.globalPosition === res.globalPositions[0]),
        'the event written after the reader opened its transaction',
      );
      expect(seen.streamId).toBe('reads');
      // never the reader (an autovacuum's analyze of the fresh tables may hold an id for a moment)
      const holder = await readsHeldBackBy(writer.db);
      expect(holder?.role ?? null).not.toBe(readerUser);
    } finally {
      release();
      await held;
    }

    // a login that may write events is still waited for, and named
    const hold = await openPostgresDb({ url: loginUrl(writerUser), schema, max: 1, applicationName: 'long-writer' });
    let releaseWriter!: () => void;
    const writerGate = new Promise<void>((r) => {
      releaseWriter = r;
    });
    let writerStarted!: (pid: number) => void;
    const writerPid = new Promise<number>((r) => {
      writerStarted = r;
    });
    const writing = hold.transaction(async (tx) => {
      const [{ pid }] = await tx.query<{ pid: number }>('select pg_backend_pid() as pid, pg_current_xact_id()');
      writerStarted(pid);
      await writerGate;
    });
    try {
      const pid = await writerPid;
      // Asked as the owner: a login without pg_read_all_stats cannot see other logins' sessions, so a
      // transaction left open anywhere in the cluster by another login (another test's) would be the
      // unnamed oldest holder for the writer, not this one.
      let last: unknown = null;
      const holder = await waitFor(
        async () => {
          // A transaction shows among the open ones of a snapshot once a later one has completed (the
          // snapshot's xmax is past it), as the controller's appends do every cycle; on an otherwise
          // idle cluster (CI's) that is this statement.
          await admin.unsafe('select pg_current_xact_id()');
          const h = await readsHeldBackBy(owner.db);
          last = h;
          return h?.pid === pid ? h : null;
        },
        'the open writer transaction to be named',
        15_000,
        { describe: () => JSON.stringify(last) },
      );
      expect(holder).toMatchObject({ pid, role: writerUser, application: 'long-writer' });
      expect(holder.since).toBeInstanceOf(Date); // same login: the database shows its start
      const watch = new StoreWatch(owner, { now: () => new Date(), heldBackAfterSec: 0 });
      const incidents = await watch.incidents();
      expect(incidents).toEqual([
        expect.objectContaining({
          kind: 'reads_held_back',
          message: expect.stringContaining(`pid ${pid}, login ${writerUser}, application "long-writer", open since`),
          figures: expect.objectContaining({ pid }),
        }),
      ]);
      expect(await watch.incidents()).toEqual([]); // once per transaction
      // ... but the condition stands while the transaction does, naming it, and clears when it ends
      expect(watch.heldBackBy()).toContain(`pid ${pid}, login ${writerUser}`);
      const held = nextConditions(new Map(), {
        at: new Date().toISOString(),
        store: { heldBackBy: watch.heldBackBy() },
      });
      expect(held.conditions).toEqual([
        expect.objectContaining({ type: 'StoreCurrent', status: 'False', reason: 'ReadsHeldBack' }),
      ]);
      expect(conditionText(held.conditions[0]!)).toContain(`pid ${pid}`);
      releaseWriter();
      await writing;
      await waitFor(async () => {
        await watch.incidents();
        return watch.heldBackBy() === null;
      }, 'the condition to clear once the transaction ended');
    } finally {
      releaseWriter();
      await writing;
      await hold.close();
    }
  });

  test('the roles carry timeouts for transactions left open', async () => {
    const rows = await admin.unsafe(
      `select r.rolname::text as role, s.setconfig from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
        where s.setdatabase = 0 and r.rolname in ('${READER_ROLE}', '${WRITER_ROLE}') order by 1`,
    );
    const settings = Object.fromEntries(rows.map((r) => [r.role, [...r.setconfig].sort()]));
    expect(settings[READER_ROLE]).toEqual(['idle_in_transaction_session_timeout=10s', 'statement_timeout=60s']);
    expect(settings[WRITER_ROLE]).toEqual(['idle_in_transaction_session_timeout=60s']);
  });
});
