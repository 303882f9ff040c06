import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { appRegistry } from '../../events/index';
import { loadConfig } from '../../src/config';
import { postgresLeaderLock, standingByLine } from '../../src/control/leader';
import { runService } from '../../src/service';
import { postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { Capture } from '../helpers/harness';
import { waitFor } from '../helpers/wait';

// Two controllers against one server: only the leader acts; the follower takes over when it stops.
(TEST_DATABASE_URL ? describe : describe.skip)('one leader per store', () => {
  const dbName = `gs_leader_${process.pid}_${Date.now().toString(36)}`;
  let url: string;
  let admin: postgres.Sql;
  let dir: string;
  beforeAll(async () => {
    admin = postgres(TEST_DATABASE_URL as string, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${dbName}`);
    const u = new URL(TEST_DATABASE_URL as string);
    u.pathname = `/${dbName}`;
    url = u.toString();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-leader-'));
  });
  afterAll(async () => {
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('two controllers: one spawns, the other stands by and takes over within two cycles', async () => {
    const config = (name: string) =>
      loadConfig({
        DATABASE_URL: url,
        POLL_INTERVAL_SEC: '0.2',
        LOG_FILE: path.join(dir, `${name}.log`),
        DB_LOGGING_ERRORS_FILE: path.join(dir, `${name}-errors.log`),
        SIM_STARTUP_MIN_SEC: '0',
        SIM_STARTUP_MAX_SEC: '0',
        SIM_FAILURE_RATE: '0',
        SIM_TASK_SEC: '600',
      });
    const a = { out: new Capture(), stop: new AbortController() };
    const b = { out: new Capture(), stop: new AbortController() };
    const runA = runService({ config: config('a'), stdout: a.out, stderr: new Capture(), signal: a.stop.signal });
    await waitFor(() => a.out.text.includes('👑 Leading'), 'A to lead', 20_000);
    const runB = runService({ config: config('b'), stdout: b.out, stderr: new Capture(), signal: b.stop.signal });
    await waitFor(() => b.out.text.includes('standing by'), 'B to stand by', 20_000);

    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await sql`insert into tasks(status) select 'queued' from generate_series(1, 3)`;
      const requested = async () =>
        (await sql`select count(*)::int as n from events where event_type = 'WorkerSpawnRequested'`)[0].n as number;
      const lastCycle = async () =>
        (await sql`select coalesce(max((data->>'cycle')::int), 0) as n from events where stream_id = 'controller'`)[0]
          .n as number;
      await waitFor(async () => (await requested()) >= 3, 'three spawn requests', 20_000);
      // five more cycles of both: the leader records them, the one standing by still records nothing
      const at = await lastCycle();
      await waitFor(async () => (await lastCycle()) >= at + 5, 'five more cycles of the leader', 20_000);
      // every spawn request is one the leader decided (the default policy may keep a warm spare,
      // so not necessarily 3): none was made twice, and the one standing by asked for none
      const decided = async () =>
        (
          await sql`select coalesce(sum((data->>'delta')::int), 0)::int as n from events
                      where event_type = 'ScalingDecided' and data->>'decision' = 'SCALE_UP'`
        )[0].n as number;
      await waitFor(async () => (await requested()) === (await decided()), 'each decided spawn requested once', 20_000);
      expect(await requested()).toBeGreaterThanOrEqual(3);
      expect(b.out.text).not.toContain('🔢 TASK COUNT');
      const cycles = await lastCycle();
      // recorded, then logged: the leader's log reaches the cycle the store has
      await waitFor(() => a.out.text.includes(`🔢 TASK COUNT (Cycle #${cycles})`), `A to log cycle #${cycles}`, 20_000);

      // the leader stops: B takes over within two cycles and continues the cycle count
      a.stop.abort();
      await runA;
      // A may have finished one more cycle after the stop request: B continues from A's last
      const last = await lastCycle();
      expect(last).toBeGreaterThanOrEqual(cycles);
      await waitFor(() => b.out.text.includes('👑 Leading'), 'B to take over', 20_000);
      expect(b.out.text).toContain(`resuming after cycle #${last}`);
      await waitFor(() => b.out.text.includes(`🔢 TASK COUNT (Cycle #${last + 1})`), 'B to run the next cycle', 20_000);
      // (A's simulated pods lived in A's process, so B records those workers as lost: not checked here.)
    } finally {
      b.stop.abort();
      await runB;
      await sql.end();
    }
  });
});

describe('why a controller does not lead', () => {
  test('a server nobody listens on is "unreachable" with the error, never "another controller"', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r())); // nobody listens there now
    const lock = postgresLeaderLock(`postgres://svc:pw-Secret-771@127.0.0.1:${port}/db`, 'public', {
      connectTimeoutSec: 2,
    });
    try {
      const status = await lock.tryAcquire();
      expect(status).toEqual({ kind: 'unreachable', error: expect.stringContaining('ECONNREFUSED') });
      if (status.kind !== 'unreachable') throw new Error('unreachable expected');
      expect(status.error).not.toContain('pw-Secret-771');
      expect(standingByLine(status)).toMatch(/^❌ The database is unreachable \(.*ECONNREFUSED.*\): standing by/);
      expect(standingByLine(status)).not.toContain('Another controller');
    } finally {
      await lock.release();
    }
  });

  (TEST_DATABASE_URL ? test : test.skip)('a second lock holder is "another controller"', async () => {
    const url = TEST_DATABASE_URL as string;
    const backend = postgresBackend();
    const store = await backend.open(appRegistry); // the lease is a row of the store's schema
    const schema = store.db.schema;
    const first = postgresLeaderLock(url, schema);
    const second = postgresLeaderLock(url, schema);
    try {
      expect(await first.tryAcquire()).toEqual({ kind: 'leading' });
      const status = await second.tryAcquire();
      expect(status).toEqual({ kind: 'other' });
      if (status.kind === 'other') expect(standingByLine(status)).toContain('Another controller leads this store');
      await first.release();
      expect(await second.tryAcquire()).toEqual({ kind: 'leading' });
    } finally {
      await first.release();
      await second.release();
      await store.close();
      await backend.teardown();
    }
  });
});
