import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { packageRoot } from '../../src/util/package-root';
import { TEST_DATABASE_URL } from '../helpers/backends';
import { buildDist } from '../helpers/build-dist';
import { waitFor } from '../helpers/wait';

const root = packageRoot();

/** The service as `npm start` runs it, from dist/, in a process of its own. */
function startService(dir: string, env: Record<string, string>): { child: ChildProcess; out: () => string } {
  let out = '';
  const child = spawn(process.execPath, [path.join(root, 'bin/gpu-scaler.js'), 'start'], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      LOG_FILE: path.join(dir, 'orchestrator.log'),
      DB_LOGGING_ERRORS_FILE: path.join(dir, 'db_logging_errors.log'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  return { child, out: () => out };
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

/** Resolves to the exit, or to 'running' if the process is still there after `ms`. */
const exitWithin = (child: ChildProcess, ms: number) =>
  Promise.race([exited(child), new Promise<'running'>((r) => setTimeout(() => r('running'), ms).unref())]);

describe('stopping the service', () => {
  let dir: string;
  beforeAll(() => {
    // the service runs from dist/, as `npm start` does: bring it up to date (incremental)
    buildDist();
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
