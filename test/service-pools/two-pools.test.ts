import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { appRegistry } from '../../events/index';
import { loadConfiguration } from '../../src/config-file';
import { runService } from '../../src/service';
import { openStore } from '../../src/store/index';
import { TEST_DATABASE_URL } from '../helpers/backends';
import { Capture } from '../helpers/harness';
import { parseScrape } from '../helpers/prometheus';
import { waitFor } from '../helpers/wait';

/** GET a path of the service's endpoint: its status and body. */
function get(port: number, p: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}
const getText = async (port: number, p: string) => (await get(port, p)).text;
const getJson = async (port: number, p: string) => {
  const r = await get(port, p);
  return { status: r.status, body: JSON.parse(r.text) as Record<string, unknown> };
};

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

  test('a pool whose task source hangs holds up the other pools once, by one wait at most: they keep their cadence, and it says why it skips', async () => {
    // video's source accepts the request and never answers (within a timeout of 600 s)
    const hung = http.createServer(() => {});
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const port = (hung.address() as AddressInfo).port;
    const c = configuration(
      `${POOLS.replace(
        '    PRIORITY: 10\n',
        `    PRIORITY: 10\n    TASK_SOURCE: http\n    TASK_COUNT_URL: http://127.0.0.1:${port}/\n    TASK_SOURCE_TIMEOUT_SEC: 600\n`,
      )}`,
    );
    const stdout = new Capture();
    const stop = new AbortController();
    const running = runService({ config: c.top, configuration: c, stdout, stderr: new Capture(), signal: stop.signal });
    try {
      // image (priority 0) decides after video's level: it waits for video once, then runs on
      // (the database may hold the first test's cycles: they are counted in this run's output)
      await waitFor(() => stdout.text.split('[image] 🎯 SCALING DECISION').length > 5, 'five cycles of image', 40_000, {
        describe: () => stdout.text.slice(-3000),
      });
      expect(stdout.text).toMatch(
        /\[video\] ⏳ Cycle #\d+ still running after \d+ s: this pool skips this tick \(the other pools keep their cadence\)/,
      );
      expect(stdout.text).not.toMatch(/\[video\] 🔢 TASK COUNT/);
      // /readyz says which pool hangs, once it has missed its ticks for two waits; the other is ready
      const port = Number(/HTTP endpoint on http:\/\/[^:]+:(\d+)\//.exec(stdout.text)?.[1]);
      let checks: Record<string, { ok: boolean; detail: string }> = {};
      await waitFor(
        async () => {
          checks = (await getJson(port, '/readyz')).body.checks as typeof checks;
          return checks['pool video']?.ok === false;
        },
        'video not ready',
        30_000,
      );
      expect(checks['pool video'].detail).toMatch(
        /^leading, cycle #\d+ still running after \d+ s \(its task source or provider does not answer\): the other pools go on$/,
      );
      expect(checks['pool image']).toEqual({ ok: true, detail: 'leading' });
      // the metrics: video's next cycle is seconds late, image's on time
      const scrape = parseScrape(await getText(port, '/metrics'));
      expect(scrape.value('gpu_scaler_cycle_lateness_seconds', { pool: 'video' })).toBeGreaterThan(5);
      expect(scrape.value('gpu_scaler_cycle_lateness_seconds', { pool: 'image' })).toBeLessThan(5);
    } finally {
      stop.abort();
    }
    expect(await running).toBe(0);
    expect(stdout.text).toContain('stopping: the cycles still running (video) did not finish within');
    hung.closeAllConnections();
    hung.close();
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
