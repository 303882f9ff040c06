import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { appRegistry } from '../../events/index';
import { seededRandom } from '../../src/clock';
import { openStore } from '../../src/store/index';
import { packageRoot } from '../../src/util/package-root';
import { FakeRunpodApi } from '../fakes/runpod-api';
import { serverDatabase } from './backends';
import { buildDist } from './build-dist';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a kill test reaches: set up by killRig's beforeAll, so read them inside a test only. */
export interface KillRig {
  readonly seed: number;
  /** The test's own database, migrated. */
  readonly sql: postgres.Sql;
  /** The stand-in RunPod every run talks to (key `rp-test-key`). */
  readonly api: FakeRunpodApi;
  /** The controller's cycles recorded so far (events on its stream). */
  cycles(): Promise<number>;
  /** Decisions the reactor has not handled yet. */
  reactorBehind(): Promise<number>;
  /** The pod names (each a worker's idempotency key) the stand-in created. */
  createdNames(): string[];
  /**
   * `runs` runs of the service, each killed with SIGKILL at a random point up to `pauseMs` after
   * it recorded its first cycle; `prepare` sets each run's demand first. Resolves to the kills made.
   */
  killRuns(runs: number, pauseMs: number, prepare: (rand: () => number) => Promise<void>): Promise<number>;
  /**
   * A last, clean run: started with LOG_LEVEL=info, waited for until it has cycled and
   * `settled()` holds (or `ms` passed), then stopped with SIGTERM. Its exit code and stderr.
   */
  lastRun(
    settled: () => Promise<boolean>,
    ms: number,
  ): Promise<{ code: number | null | 'still running'; stderr: string }>;
}

/**
 * The whole service from dist/ (as `npm start` runs it) against a database of its own and a fake
 * RunPod, for tests that kill it at random points (seed: KILL_TEST_SEED, to repeat a failing run).
 * Call inside a describe: it adds that describe's hooks. `env` is added to the settings every
 * kill test shares.
 */
export function killRig(name: string, env: Record<string, string> = {}): KillRig {
  const seed = Number(process.env.KILL_TEST_SEED ?? Date.now() % 100000);
  const rand = seededRandom(seed);
  let url = '';
  let dir = '';
  let dropDatabase: (() => Promise<void>) | undefined;
  let db: postgres.Sql | undefined;
  // Every service process started and not yet exited. A test that fails or times out leaves its
  // loop running (jest cannot stop it): `ended` stops it from starting more, and afterEach kills
  // what is left, before afterAll drops the database under them.
  const children = new Set<ChildProcess>();
  let ended = false;

  const rig: KillRig = {
    seed,
    get sql() {
      if (!db) throw new Error("the kill rig's database is made in beforeAll: read it inside a test");
      return db;
    },
    api: new FakeRunpodApi({ apiKey: 'rp-test-key', readyOnCreate: true, createDelayMs: 15 }),
    cycles: async () =>
      (await rig.sql`select count(*)::int as n from events where stream_id = 'controller'`)[0].n as number,
    reactorBehind: async () =>
      (
        await rig.sql`select count(*)::int as behind from events e
          where e.event_type = 'ScalingDecided' and not exists (
            select 1 from projection_checkpoints c where c.name = 'reactor' and c.global_position >= e.global_position)`
      )[0].behind as number,
    createdNames: () =>
      rig.api
        .requestsTo('create')
        .filter((r) => r.status === 201)
        .map((r) => (r.body as { name: string }).name),
    killRuns: async (runs, pauseMs, prepare) => {
      let kills = 0;
      for (let i = 0; i < runs; i++) {
        await prepare(rand);
        const before = await rig.cycles();
        const child = start();
        // wait until this run has decided something, then kill it at a random point after that
        const until = Date.now() + 15_000;
        while ((await rig.cycles()) === before && Date.now() < until && child.exitCode === null) await sleep(15);
        await sleep(rand() * pauseMs);
        child.kill('SIGKILL');
        await exited(child);
        kills += 1;
      }
      return kills;
    },
    lastRun: async (settled, ms) => {
      const startedAt = await rig.cycles();
      const child = start({ LOG_LEVEL: 'info' });
      let stderr = '';
      child.stderr?.on('data', (d) => {
        stderr += d.toString();
      });
      const deadline = Date.now() + ms;
      // this run must have cycled: the last kill can leave the fleet settled, and a SIGTERM before
      // the service has installed its handlers ends it by the signal (code null)
      let done = false;
      while (Date.now() < deadline && !done) {
        await sleep(300);
        done = (await rig.cycles()) > startedAt && (await settled());
      }
      child.kill('SIGTERM');
      const code = await Promise.race([exited(child), sleep(20_000).then(() => 'still running' as const)]);
      if (code === 'still running') child.kill('SIGKILL');
      return { code, stderr };
    },
  };

  const settings = () => ({
    ...process.env,
    DATABASE_URL: url,
    // the operators' rule settles on one worker per task, the fleet these tests wait for
    POLICY: 'operators',
    PROVIDER: 'runpod',
    RUNPOD_API_URL: rig.api.v2,
    RUNPOD_API_KEY: 'rp-test-key',
    RUNPOD_IMAGE_NAME: 'ghcr.io/example/worker:1',
    RUNPOD_GPU_TYPE_IDS: 'NVIDIA A40,NVIDIA RTX A6000',
    RUNPOD_BACKOFF_BASE_SEC: '0.005',
    // creates answer in 15 ms and the fake lists new pods at once: a restart looks for an
    // unanswered create's pod for at most these two (not the production 30 s + 15 s)
    RUNPOD_REQUEST_TIMEOUT_SEC: '2',
    RUNPOD_LIST_LAG_SEC: '0.5',
    POLL_INTERVAL_SEC: '0.05',
    MAX_WORKERS: '12',
    MAX_ACTIVE_GPUS: '12',
    GPU_IDLE_TIMEOUT_SEC: '0.3',
    RECONCILE_EVERY_CYCLES: '3',
    DECISION_STALE_SEC: '3600',
    LOG_FILE: path.join(dir, 'orchestrator.log'),
    DB_LOGGING_ERRORS_FILE: path.join(dir, 'db_logging_errors.log'),
    LOG_LEVEL: 'warning',
    ...env,
  });
  const start = (extra: Record<string, string> = {}): ChildProcess => {
    if (ended) throw new Error('the test has ended: no further service is started');
    const child = spawn(process.execPath, [path.join(packageRoot(), 'bin/gpu-scaler.js'), 'start'], {
      cwd: dir,
      env: { ...settings(), ...extra },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  const exited = (child: ChildProcess) =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
      else child.once('exit', (code) => resolve(code));
    });

  beforeAll(async () => {
    // the service runs from dist/, as `npm start` does: bring it up to date (incremental)
    buildDist();
    const made = await serverDatabase(`gs_${name}`);
    url = made.url;
    dropDatabase = made.drop;
    await (await openStore({ target: url, registry: appRegistry, listen: false })).close(); // migrate
    db = postgres(url, { max: 2, onnotice: () => {} });
    await rig.api.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `gpu-scaler-${name}-`));
  }, 120_000);

  afterEach(async () => {
    ended = true;
    const left = [...children];
    for (const child of left) child.kill('SIGKILL');
    await Promise.all(left.map(exited));
  });

  afterAll(async () => {
    await rig.api.stop();
    await db?.end();
    await dropDatabase?.();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  return rig;
}
