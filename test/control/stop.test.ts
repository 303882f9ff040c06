import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { TEST_DATABASE_URL } from '../helpers/backends';
import { buildDist, exited, exitWithin, startService } from '../helpers/service-process';
import { waitFor } from '../helpers/wait';

describe('stopping the service', () => {
  let dir: string;
  beforeAll(() => {
    buildDist(); // the service runs from dist/, as `npm start` does
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-stop-'));
  }, 120_000);
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a second SIGTERM exits at once while the first is stuck; the stuck stop itself ends at its deadline', async () => {
    // a task source that never answers, with a long timeout: the cycle and so the first stop hang
    const hung = http.createServer(() => {});
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hung.address() as AddressInfo).port}/`;
    try {
      const env = {
        DATABASE_URL: 'memory://',
        TASK_SOURCE: 'http',
        TASK_COUNT_URL: url,
        TASK_SOURCE_TIMEOUT_SEC: '600',
        DB_LOGGING: 'false',
      };
      const a = startService(dir, env);
      await waitFor(() => a.out().includes('👑 Leading'), 'the service to lead', 60_000);
      a.child.kill('SIGTERM');
      await waitFor(() => a.out().includes('received SIGTERM'), 'the first SIGTERM to be seen', 60_000);
      expect(await exitWithin(a.child, 500)).toBe('running'); // stuck in the cycle
      a.child.kill('SIGTERM');
      expect(await exited(a.child)).toEqual({ code: 143, signal: null });
      expect(a.out()).toContain('second SIGTERM while stopping: exiting now');

      const b = startService(dir, env);
      await waitFor(() => b.out().includes('👑 Leading'), 'the service to lead', 60_000);
      b.child.kill('SIGINT');
      expect(await exited(b.child)).toEqual({ code: 130, signal: null });
      expect(b.out()).toContain('still stopping 10000 ms after SIGINT: exiting now');
    } finally {
      hung.closeAllConnections();
      hung.close();
    }
  }, 120_000);

  // A destination that cannot be written is counted and reported, never fatal (it exited 1 under
  // `> /dev/full`, and 7 under `2> /dev/full`).
  test.each([
    ['stdout', ['ignore', 'full', 'pipe']],
    ['stderr', ['ignore', 'pipe', 'full']],
  ] as const)(
    '%s on a full disk: the service runs its cycles, reports DEGRADED and exits 0',
    async (name, stdio) => {
      const full = fs.openSync('/dev/full', 'w');
      try {
        const s = startService(
          dir,
          {
            DATABASE_URL: 'memory://',
            LOG_FILE: 'none',
            HTTP_PORT: '0',
            POLL_INTERVAL_SEC: '0.1',
            HEALTH_CHECK_EVERY_CYCLES: '2',
          },
          { args: ['--cycles', '4'], stdio: stdio.map((x) => (x === 'full' ? full : x)) },
        );
        expect(await exited(s.child)).toEqual({ code: 0, signal: null });
        expect(s.out()).toMatch(
          new RegExp(`HEALTH CHECK \\(Cycle #4\\): DEGRADED - ${name}: \\d+ writes? failed \\(last: .*ENOSPC`),
        );
        expect(s.out()).toContain('TASK COUNT');
      } finally {
        fs.closeSync(full);
      }
    },
    60_000,
  );

  // The connections dropped under the service (as a server restart does), then SIGTERM: it exits.
  (TEST_DATABASE_URL ? test : test.skip)(
    'after its connections are dropped, SIGTERM ends the process (every trial)',
    async () => {
      const dbName = `gs_stop_${process.pid}_${Date.now().toString(36)}`;
      const admin = postgres(TEST_DATABASE_URL as string, { max: 1, onnotice: () => {} });
      await admin.unsafe(`create database ${dbName}`);
      const u = new URL(TEST_DATABASE_URL as string);
      u.pathname = `/${dbName}`;
      const results: string[] = [];
      try {
        for (let trial = 1; trial <= 4; trial++) {
          const s = startService(dir, { DATABASE_URL: u.toString(), POLL_INTERVAL_SEC: '0.2' });
          await waitFor(() => s.out().split('🔢 TASK COUNT (Cycle #').length > 2, 'two cycles', 60_000);
          // drop every connection of the service, again and again, and stop it in the middle of that:
          // the LISTEN connection reconnects by itself each time
          let dropping = true;
          const drops = (async () => {
            while (dropping) {
              await admin`select pg_terminate_backend(pid) from pg_stat_activity
                where datname = ${dbName} and pid <> pg_backend_pid()`;
              await new Promise((r) => setTimeout(r, 2));
            }
          })();
          await new Promise((r) => setTimeout(r, 100 + trial * 37));
          s.child.kill('SIGTERM');
          await new Promise((r) => setTimeout(r, 300));
          dropping = false;
          await drops;
          // it must exit by itself, before the 10 s stop deadline (which says "still stopping")
          const end = await exited(s.child);
          const stuck = /still stopping.*/.exec(s.out());
          const last = s
            .out()
            .split('\n')
            .filter((l) => /^gpu-scaler:|Error|UNHANDLED|^ {4}at /.test(l))
            .slice(-12)
            .join(' | ');
          const order = s.out().indexOf('received SIGTERM') < s.out().indexOf('TypeError') ? 'after SIGTERM' : 'before';
          results.push(
            stuck ? `deadline: ${stuck[0]}` : end.code === 0 ? 'exit 0' : `exit ${end.code} ${order}: ${last}`,
          );
        }
      } finally {
        await admin.unsafe(`drop database if exists ${dbName} with (force)`);
        await admin.end();
      }
      expect(results).toEqual(['exit 0', 'exit 0', 'exit 0', 'exit 0']);
    },
    300_000,
  );
});
