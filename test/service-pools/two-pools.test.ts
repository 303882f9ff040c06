import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { appRegistry } from '../../events/index';
import { loadConfiguration } from '../../src/config-file';
import { runService } from '../../src/service';
import { openStore } from '../../src/store/index';
import { TEST_DATABASE_URL } from '../helpers/backends';
import { Capture } from '../helpers/harness';
import { waitFor } from '../helpers/wait';

/** GET a path of the service's endpoint: its status and JSON body. */
function getJson(port: number, p: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      })
      .on('error', reject);
  });
}

const POOLS = `POLL_INTERVAL_SEC: 0.2
HTTP_PORT: 0
SIM_STARTUP_MIN_SEC: 0
SIM_STARTUP_MAX_SEC: 0
SIM_FAILURE_RATE: 0
SIM_TASK_SEC: 600
pools:
  video:
    PRIORITY: 10
    MAX_WORKERS: 4
  image:
    MAX_WORKERS: 3
`;

/** Two pools in one service on the simulated provider: both scale, each logs its own lines. */
describe(`two pools in one service (${TEST_DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  const dbName = `gs_pools_${process.pid}_${Date.now().toString(36)}`;
  let dir: string;
  let url: string;
  let admin: postgres.Sql | undefined;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-pools-'));
    if (TEST_DATABASE_URL) {
      admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      await admin.unsafe(`create database ${dbName}`);
      const u = new URL(TEST_DATABASE_URL);
      u.pathname = `/${dbName}`;
      url = u.toString();
    } else {
      url = `pglite://${path.join(dir, 'db')}`;
    }
  });
  afterAll(async () => {
    await admin?.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin?.end();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const configuration = (yaml: string) => {
    const file = path.join(dir, 'pools.yaml');
    fs.writeFileSync(file, yaml);
    return loadConfiguration(
      {
        DATABASE_URL: url,
        LOG_FILE: path.join(dir, 'orchestrator.log'),
        DB_LOGGING_ERRORS_FILE: path.join(dir, 'db_logging_errors.log'),
      },
      { file },
    );
  };

  test('both pools scale on their own tasks; every log line of a pool names it; /readyz names each pool', async () => {
    const c = configuration(POOLS);
    const stdout = new Capture();
    const stop = new AbortController();
    // tasks for each pool: each pool's controller counts its own and scales for them
    await insertTasks({ video: 3, image: 2 });
    const stderr = new Capture();
    const running = runService({ config: c.top, configuration: c, stdout, stderr, signal: stop.signal });
    try {
      await waitFor(
        () => /\[video\] 👑 Leading/.test(stdout.text) && /\[image\] 👑 Leading/.test(stdout.text),
        'both pools led',
      );
      expect(stdout.text).toContain('effective configuration of pool video:');
      expect(stdout.text).toContain('effective configuration of pool image:');
      const spawned = (pool: string) =>
        new RegExp(`\\[${pool}\\] 🎯 SCALING DECISION \\(Cycle #\\d+\\): Current=[1-9]\\d*\\+0, Desired=`).test(
          stdout.text,
        );
      await waitFor(() => spawned('video') && spawned('image'), 'both pools to scale up', 30_000, {
        describe: () => stdout.text.slice(-3000),
      });
      await waitFor(
        () => /\[video\] 🔢 TASK COUNT \(Cycle #\d+\): Queued=\d+, Active=\d+, Total=3/.test(stdout.text),
        'video counting its 3 tasks',
      );
      await waitFor(
        () => /\[image\] 🔢 TASK COUNT \(Cycle #\d+\): Queued=\d+, Active=\d+, Total=2/.test(stdout.text),
        'image counting its 2 tasks',
      );
      // every entry of a pool's cycle starts with the pool: none is said without it
      expect(stdout.text).toMatch(/^\s*\d{4}-\S+ +\w+ +\[video\] 🔢 TASK COUNT/m);
      expect(stdout.text).not.toMatch(/^\s*\d{4}-\S+ +\w+ +(🔢|🎯)/m);
      const port = Number(/HTTP endpoint on http:\/\/[^:]+:(\d+)\//.exec(stdout.text)?.[1]);
      const ready = await getJson(port, '/readyz');
      expect(ready.body.checks).toMatchObject({
        'pool video': { ok: true, detail: 'leading' },
        'pool image': { ok: true, detail: 'leading' },
      });
      expect(fs.readFileSync(path.join(dir, 'orchestrator.log'), 'utf8')).toContain('[image] 🎯 SCALING DECISION');
      // the stderr mirror of each pool's count names the pool too
      expect(stderr.text).toMatch(/\[video\] TASK COUNT cycle=\d+ queued=\d+ active=\d+ total=3/);
      expect(stderr.text).toMatch(/\[image\] TASK COUNT cycle=\d+ queued=\d+ active=\d+ total=2/);
    } finally {
      stop.abort();
    }
    expect(await running).toBe(0);
  }, 90_000);

  test('pools whose floors alone pass the global cap: start refuses (exit 2), naming each problem', async () => {
    const c = configuration(
      `GLOBAL_MAX_ACTIVE_GPUS: 2\nPOLICY: operators\npools:\n  video:\n    MIN_ACTIVE_GPUS: 2\n  image:\n    MIN_ACTIVE_GPUS: 1\n`,
    );
    const stderr = new Capture();
    expect(await runService({ config: c.top, configuration: c, stdout: new Capture(), stderr, maxCycles: 1 })).toBe(2);
    expect(stderr.text).toMatch(/gpu-scaler: .*GLOBAL_MAX_ACTIVE_GPUS=2/);
  });

  /** Queued tasks of each pool, put in before the service starts (an embedded store is one process's). */
  async function insertTasks(counts: Record<string, number>) {
    const store = await openStore({ target: url, registry: appRegistry, listen: false });
    try {
      for (const [pool, n] of Object.entries(counts))
        await store.db.query(`insert into tasks(status, pool) select 'queued', $1 from generate_series(1, $2::int)`, [
          pool,
          n,
        ]);
    } finally {
      await store.close();
    }
  }
});
