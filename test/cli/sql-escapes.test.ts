/**
 * `gpu-scaler sql` is read-only in fact: the escapes a read-only transaction alone lets through
 * (server programs, server files, large objects, other sessions, server administration, undoing
 * the role) are refused, and nothing they would do happens. On the server (TEST_DATABASE_URL) the
 * store is opened as the CI's superuser, the worst case of `set role`; the reader-login layout
 * (READ_DATABASE_URL) is tested too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { appRegistry } from '../../events/index';
import { pgErrorCode } from '../../src/store/db';
import { openPostgresDb } from '../../src/store/db-postgres';
import type { EventStore } from '../../src/store/event-store';
import { storeOn } from '../../src/store/index';
import type { StoreTarget } from '../../src/store/open';
import { READER_ROLE, readAsReader } from '../../src/store/roles';
import { pgliteBackend, postgresBackend, TEST_DATABASE_URL, type TestBackend } from '../helpers/backends';
import { runOnStore } from './run-cli';

const target: StoreTarget = { kind: 'postgres', url: 'postgres://test' };

async function seed(store: EventStore): Promise<void> {
  await store.append('controller', [
    {
      type: 'TaskCountObserved',
      data: {
        cycle: 1,
        at: '2026-11-27T18:00:00.000Z',
        source: 'test',
        queued: 3,
        active: 0,
        total: 3,
        responseMs: 1,
        workers: null,
      },
    },
  ]);
  await store.db.query("insert into tasks (status) values ('queued')");
}

/** The error a promise rejects with (fails when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the statement to be refused, and it ran');
}

/** A login URL for `user` on the test server (trust authentication, no password). */
function loginUrl(user: string): string {
  const u = new URL(TEST_DATABASE_URL as string);
  u.username = user;
  u.password = '';
  return u.toString();
}

(TEST_DATABASE_URL ? describe : describe.skip)('gpu-scaler sql on a server: every escape is refused', () => {
  let backend: TestBackend;
  let store: EventStore;
  let admin: postgres.Sql;
  let victim: postgres.Sql;
  let victimPid: number;
  let dir: string;
  const logins: string[] = [];

  /** What the escapes would change: large objects, files, the store's rows, the victim session. */
  async function observe() {
    const [r] = await admin.unsafe(
      `select (select count(*) from pg_largeobject_metadata)::int as large_objects,
              (select count(*) from "${store.db.schema}".events)::int as events,
              (select count(*) from "${store.db.schema}".tasks)::int as tasks,
              exists (select 1 from pg_stat_activity where pid = $1) as victim_alive,
              exists (select 1 from pg_locks where locktype = 'advisory' and pid = $1 and granted) as victim_holds_lock,
              pg_conf_load_time() as conf_loaded_at`,
      [victimPid],
    );
    const [alive] = await victim`select 1 as ok`;
    return {
      ...r,
      victimAnswers: alive.ok,
      programRan: fs.existsSync(path.join(dir, 'program-ran')),
      fileWritten: fs.existsSync(path.join(dir, 'copy-out.txt')),
    };
  }

  async function createLogin(name: string, member: boolean): Promise<string> {
    const user = `${name}_${process.pid}`;
    await admin.unsafe(`drop role if exists ${user}`);
    await admin.unsafe(`create role ${user} login${member ? ` in role ${READER_ROLE}` : ''}`);
    logins.push(user);
    return user;
  }

  beforeAll(async () => {
    backend = postgresBackend();
    store = await backend.open(appRegistry);
    await seed(store);
    admin = postgres(TEST_DATABASE_URL as string, { max: 1, onnotice: () => {} });
    victim = postgres(TEST_DATABASE_URL as string, { max: 1, onnotice: () => {}, idle_timeout: 0 });
    // Like the leader: a session holding an advisory lock on a connection of its own.
    [{ pid: victimPid }] = await victim`select pg_backend_pid() as pid, pg_advisory_lock(424242, 1)`;
    // The server runs as another OS user: a directory it may write to, so a refused write is the check's doing.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-sql-escapes-'));
    fs.chmodSync(dir, 0o777);
  });

  afterAll(async () => {
    for (const user of logins) {
      await admin.unsafe(`drop owned by ${user}`).catch(() => {});
      await admin.unsafe(`drop role if exists ${user}`).catch(() => {});
    }
    await victim?.end();
    await admin?.end();
    await backend?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('through the command: each is refused (exit 2) and nothing ran, nothing changed', async () => {
    const before = await observe();
    expect(before).toMatchObject({ large_objects: expect.any(Number), events: 1, tasks: 1, victim_alive: true });
    const escapes: [string, string][] = [
      [`copy (select 1) to program 'touch ${dir}/program-ran'`, 'not "COPY"'],
      [`copy (select 1) to '${dir}/copy-out.txt'`, 'not "COPY"'],
      ["select pg_read_file('/etc/hostname')", '"pg_read_file" is not allowed'],
      ["select lo_import('/etc/hostname')", '"lo_import" is not allowed'],
      ["select lo_from_bytea(0, 'x')", '"lo_from_bytea" is not allowed'],
      [`select pg_cancel_backend(${victimPid})`, '"pg_cancel_backend" is not allowed'],
      [`select pg_terminate_backend(${victimPid})`, '"pg_terminate_backend" is not allowed'],
      ['select pg_reload_conf()', '"pg_reload_conf" is not allowed'],
      ['select pg_switch_wal()', '"pg_switch_wal" is not allowed'],
      ['set role postgres', 'not "SET"'],
      ['reset role', 'not "RESET"'],
      ['set session authorization postgres', 'not "SET"'],
      ["select set_config('role', 'postgres', false)", '"set_config" is not allowed'],
      ["select pg_catalog.\"set_config\"('session_replication_role', 'replica', true)", '"set_config" is not allowed'],
      ["select U&\"set\\005fconfig\"('role', 'postgres', false)", "refuses U&'…'"],
      ["select query_to_xml('select 1', true, true, '')", '"query_to_xml" is not allowed'],
      ['select pg_advisory_lock(1999, 1)', '"pg_advisory_lock" is not allowed'],
      ["select pg_notify('gpu_scaler_events_public', '')", '"pg_notify" is not allowed'],
      ['do $$ begin perform 1; end $$', 'not "DO"'],
      ['create temp table scratch (a int)', 'not "CREATE"'],
      ['lock table events', 'not "LOCK"'],
      ['vacuum events', 'not "VACUUM"'],
      ['listen anything', 'not "LISTEN"'],
      ['discard all', 'not "DISCARD"'],
      ['insert into tasks default values', 'not "INSERT"'],
    ];
    for (const [query, says] of escapes) {
      const r = await runOnStore(store, target, ['sql', query]);
      expect({ query, code: r.code, stdout: r.stdout }).toEqual({ query, code: 2, stdout: '' });
      expect({ query, stderr: r.stderr }).toEqual({ query, stderr: expect.stringContaining(says) });
    }
    const after = await observe();
    expect(after).toEqual(before);
    expect(after).toMatchObject({
      victim_alive: true,
      victim_holds_lock: true,
      victimAnswers: 1,
      programRan: false,
      fileWritten: false,
    });
  });

  test('behind the checks, the reader role itself refuses them, and the transaction keeps nothing', async () => {
    const before = await observe();
    const refusedByRole = [
      `copy (select 1) to program 'touch ${dir}/program-ran'`,
      `copy (select 1) to '${dir}/copy-out.txt'`,
      "select pg_read_file('/etc/hostname')",
      "select lo_import('/etc/hostname')",
      `select pg_cancel_backend(${victimPid})`,
      `select pg_terminate_backend(${victimPid})`,
      'select pg_reload_conf()',
      'select pg_switch_wal()',
    ];
    for (const statement of refusedByRole) {
      const err = await rejection(readAsReader(store.db, statement, 10_000));
      expect({ statement, code: pgErrorCode(err) }).toEqual({ statement, code: '42501' });
    }
    // Writes: the read-only transaction (and the role: it may not write).
    const write = await rejection(readAsReader(store.db, 'insert into tasks default values', 10_000));
    expect(pgErrorCode(write)).toBe('25006');
    // A large object some servers create even in a read-only transaction: rolled back, never kept.
    await readAsReader(store.db, "select lo_from_bytea(0, 'x')", 10_000).catch(() => []);
    // The role holds: SELECT on the store's tables works.
    const rows = await readAsReader(
      store.db,
      'select current_user::text as role, count(*)::int as n from events',
      10_000,
    );
    expect(rows).toEqual([{ role: READER_ROLE, n: 1 }]);
    expect(await observe()).toEqual(before);
  });

  test('set role alone can be undone by a superuser login: why the checks refuse set_config, and READ_DATABASE_URL is the safe setup', async () => {
    // Connected as a superuser, the reader role is one set_config away from superuser again.
    const rows = await readAsReader(
      store.db,
      "select set_config('role', 'none', true) as r, current_setting('is_superuser') as superuser",
      10_000,
    );
    expect(rows).toEqual([{ r: 'none', superuser: 'on' }]);

    // A reader login: the server refuses the role change, whatever the query.
    const user = await createLogin('gs_reader', true);
    const db = await openPostgresDb({ url: loginUrl(user), schema: store.db.schema, max: 2 });
    const readerStore = await storeOn(db, appRegistry, false, false);
    try {
      const err = await rejection(readAsReader(db, "select set_config('role', 'postgres', false)", 10_000));
      expect(pgErrorCode(err)).toBe('42501');
      expect(err.message).toContain('permission denied to set role "postgres"');
      const kill = await rejection(readAsReader(db, `select pg_terminate_backend(${victimPid})`, 10_000));
      expect(pgErrorCode(kill)).toBe('42501');
      const r = await runOnStore(readerStore, target, ['sql', '--json', 'select count(*)::int as n from events']);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual([{ n: 1 }]);
    } finally {
      await readerStore.close();
    }
  });

  test('a user that may not take the reader role: sql refuses to run (exit 1) and says what to set', async () => {
    const user = await createLogin('gs_nobody', false);
    // It may see the store (so it can open it), just not take the reader role.
    await admin.unsafe(`grant usage on schema "${store.db.schema}" to ${user}`);
    await admin.unsafe(`grant select on "${store.db.schema}".schema_migrations to ${user}`);
    const db = await openPostgresDb({ url: loginUrl(user), schema: store.db.schema, max: 2 });
    const other = await storeOn(db, appRegistry, false, false);
    try {
      const r = await runOnStore(other, target, ['sql', 'select 1 as one']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`${user} may not switch to the role ${READER_ROLE}`);
      expect(r.stderr).toContain('READ_DATABASE_URL');
    } finally {
      await other.close();
    }
  });
});

describe('gpu-scaler sql [pglite]: the reader role is checked before a query runs', () => {
  let backend: TestBackend;
  beforeAll(() => {
    backend = pgliteBackend();
  });
  afterAll(async () => {
    await backend.teardown();
  });

  test('runs as the reader role; refuses (exit 1) when the role can do more than read', async () => {
    const store = await backend.open(appRegistry);
    await seed(store);
    const ok = await runOnStore(store, target, ['sql', '--json', 'select current_user::text as role']);
    expect(ok.stderr).toBe('');
    expect(JSON.parse(ok.stdout)).toEqual([{ role: READER_ROLE }]);

    await store.db.exec(`grant pg_signal_backend to ${READER_ROLE}`);
    try {
      const r = await runOnStore(store, target, ['sql', 'select 1 as one']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`the role ${READER_ROLE} can do more than read`);
      expect(r.stderr).toContain('pg_signal_backend');
    } finally {
      await store.db.exec(`revoke pg_signal_backend from ${READER_ROLE}`);
    }
  });
});
