import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { appRegistry } from '../../events/index';
import { openStore } from '../../src/store/index';
import { packageRoot } from '../../src/util/package-root';
import { FakeRunpodApi } from '../fakes/runpod-api';
import { TEST_DATABASE_URL } from '../helpers/backends';
import { buildDist } from '../helpers/build-dist';

const KILLS = Number(process.env.KILL_TEST_KILLS ?? 40);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A seeded generator, so a failing run can be repeated. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The whole service, killed with SIGKILL at random points while it scales, against a fake RunPod.
(TEST_DATABASE_URL ? describe : describe.skip)('SIGKILL while parking and unparking', () => {
  const root = packageRoot();
  const dbName = `gs_park_kill_${process.pid}_${Date.now().toString(36)}`;
  const seed = Number(process.env.KILL_TEST_SEED ?? Date.now() % 100000);
  let url: string;
  let admin: postgres.Sql;
  let sql: postgres.Sql;
  let api: FakeRunpodApi;
  let dir: string;

  beforeAll(async () => {
    // the service runs from dist/, as `npm start` does: bring it up to date (incremental)
    buildDist();
    admin = postgres(TEST_DATABASE_URL as string, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${dbName}`);
    const u = new URL(TEST_DATABASE_URL as string);
    u.pathname = `/${dbName}`;
    url = u.toString();
    await (await openStore({ target: url, registry: appRegistry, listen: false })).close(); // migrate
    sql = postgres(url, { max: 2, onnotice: () => {} });
    api = new FakeRunpodApi({ apiKey: 'rp-test-key', readyOnCreate: true, createDelayMs: 15 });
    await api.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-park-kill-'));
  }, 120_000);

  afterAll(async () => {
    await api?.stop();
    await sql?.end();
    await admin?.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin?.end();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const env = () => ({
    ...process.env,
    DATABASE_URL: url,
    // the operators' rule settles on one worker per task, the fleet this test waits for
    POLICY: 'operators',
    PROVIDER: 'runpod',
    RUNPOD_API_URL: api.v2,
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
    PARKED_MAX: '5',
    PARKED_MAX_AGE_SEC: '8',
    DECISION_STALE_SEC: '3600',
    LOG_FILE: path.join(dir, 'orchestrator.log'),
    DB_LOGGING_ERRORS_FILE: path.join(dir, 'db_logging_errors.log'),
    LOG_LEVEL: 'warning',
  });

  const start = (extra: Record<string, string> = {}): ChildProcess =>
    spawn(process.execPath, [path.join(root, 'bin/gpu-scaler.js'), 'start'], {
      cwd: dir,
      env: { ...env(), ...extra },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  const exited = (child: ChildProcess) =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
      else child.once('exit', (code) => resolve(code));
    });

  const cycles = async () =>
    (await sql`select count(*)::int as n from events where stream_id = 'controller'`)[0].n as number;

  test(`${KILLS} kills at random points while pods are parked and started: no parked pod forgotten, none parked and running, one pod per worker`, async () => {
    const rand = random(seed);
    let kills = 0;
    for (let i = 0; i < KILLS; i++) {
      // bursts and quiets: idle workers are parked, the next burst starts them (some starts refused)
      const want = rand() < 0.4 ? 0 : Math.floor(rand() * 9);
      await sql`delete from tasks`;
      if (want > 0) await sql`insert into tasks(status) select 'queued' from generate_series(1, ${want}::int)`;
      if (rand() < 0.3) api.refuseStarts('*', 1);
      const before = await cycles();
      const child = start();
      const until = Date.now() + 15_000;
      while ((await cycles()) === before && Date.now() < until && child.exitCode === null) await sleep(15);
      await sleep(rand() * 400);
      child.kill('SIGKILL');
      await exited(child);
      kills += 1;
    }
    expect(kills).toBe(KILLS);
    const parkedEver = await sql`select count(*)::int as n from events where event_type = 'WorkerParked'`;
    const unparkedEver = await sql`select count(*)::int as n from events where event_type = 'WorkerUnparked'`;
    // the kills landed while parking and unparking went on
    expect(parkedEver[0].n).toBeGreaterThan(0);
    expect(unparkedEver[0].n).toBeGreaterThan(0);

    // a last, clean run: it recovers, reconciles, and settles
    await sql`delete from tasks`;
    await sql`insert into tasks(status) select 'queued' from generate_series(1, 3)`;
    const startedAt = await cycles();
    const child = start({ LOG_LEVEL: 'info' });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d.toString();
    });
    const rows = async (statuses: string[]) =>
      (await sql`select worker_id, pod_id from workers where status = any(${statuses}) order by worker_id`).map(
        (r) => ({ worker: r.worker_id as string, pod: r.pod_id as string | null }),
      );
    const podsIn = (statuses: string[]) =>
      [...api.pods.values()]
        .filter((p) => statuses.includes(p.status))
        .map((p) => p.id)
        .sort();
    const RUNNING = ['PROVISIONING', 'STARTING', 'RUNNING'];
    const deadline = Date.now() + 40_000;
    let settled = false;
    while (Date.now() < deadline && !settled) {
      await sleep(300);
      const live = await rows(['spawning', 'active', 'terminating']);
      const parked = await rows(['parked']);
      const [{ behind }] = await sql`select count(*)::int as behind from events e
        where e.event_type = 'ScalingDecided' and not exists (
          select 1 from projection_checkpoints c where c.name = 'reactor' and c.global_position >= e.global_position)`;
      // this run must have cycled: the last kill can leave the fleet settled, and a SIGTERM before
      // the service has installed its handlers ends it by the signal (code null)
      const ran = (await cycles()) > startedAt;
      settled =
        ran &&
        behind === 0 &&
        live.length === 3 &&
        live.every((x) => x.pod) &&
        podsIn(RUNNING).length === 3 &&
        JSON.stringify(parked.map((p) => p.pod).sort()) === JSON.stringify(podsIn(['EXITED']));
    }
    child.kill('SIGTERM');
    const code = await Promise.race([exited(child), sleep(20_000).then(() => 'still running')]);
    if (code === 'still running') child.kill('SIGKILL');
    expect({ code, stderr: code === 0 ? '' : stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });

    const live = await rows(['spawning', 'active', 'terminating']);
    const parked = await rows(['parked']);
    // pods holding GPUs are exactly the live workers' pods
    expect({ seed, live: live.map((w) => w.pod).sort() }).toEqual({ seed, live: podsIn(RUNNING) });
    // stopped pods are exactly the parked workers' pods: none forgotten, none parked and running
    expect(parked.map((w) => w.pod).sort()).toEqual(podsIn(['EXITED']));
    expect(parked.length).toBeLessThanOrEqual(5);
    // one pod per worker: no pod name (the worker's key) was ever created twice
    const names = api
      .requestsTo('create')
      .filter((r) => r.status === 201)
      .map((r) => (r.body as { name: string }).name);
    expect(new Set(names).size).toBe(names.length);
    // and never more GPUs held at once than MAX_ACTIVE_GPUS
    expect(api.peakRunning).toBeLessThanOrEqual(12);
    expect(stderr).not.toContain('rp-test-key');
  }, 400_000);
});
