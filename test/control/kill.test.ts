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

const KILLS = Number(process.env.KILL_TEST_KILLS ?? 50);
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
(TEST_DATABASE_URL ? describe : describe.skip)('SIGKILL during scale-ups', () => {
  const root = packageRoot();
  const dbName = `gs_kill_${process.pid}_${Date.now().toString(36)}`;
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
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-kill-'));
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
    DECISION_STALE_SEC: '3600',
    LOG_FILE: path.join(dir, 'orchestrator.log'),
    DB_LOGGING_ERRORS_FILE: path.join(dir, 'db_logging_errors.log'),
    LOG_LEVEL: 'warning',
  });

  // Every service process the test started and that has not exited. A test that fails or times out
  // leaves its loop running (jest cannot stop it): `ended` stops it from starting more, and
  // afterEach kills what is left, before afterAll drops the database under them.
  const children = new Set<ChildProcess>();
  let ended = false;
  const start = (extra: Record<string, string> = {}): ChildProcess => {
    if (ended) throw new Error('the test has ended: no further service is started');
    const child = spawn(process.execPath, [path.join(root, 'bin/gpu-scaler.js'), 'start'], {
      cwd: dir,
      env: { ...env(), ...extra },
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

  afterEach(async () => {
    ended = true;
    const left = [...children];
    for (const child of left) child.kill('SIGKILL');
    await Promise.all(left.map(exited));
  });

  const cycles = async () =>
    (await sql`select count(*)::int as n from events where stream_id = 'controller'`)[0].n as number;

  test(`${KILLS} kills at random points: pods at the provider equal the live workers, none spawned twice`, async () => {
    const rand = random(seed);
    let kills = 0;
    for (let i = 0; i < KILLS; i++) {
      // keep the fleet moving: bursts up, drains down
      const want = Math.floor(rand() * 13);
      if (process.env.KILL_TEST_DEBUG) console.error(`want ${want}`);
      await sql`delete from tasks`;
      if (want > 0) await sql`insert into tasks(status) select 'queued' from generate_series(1, ${want}::int)`;
      const before = await cycles();
      const child = start();
      // wait until this run has decided something, then kill it at a random point after that
      const until = Date.now() + 15_000;
      while ((await cycles()) === before && Date.now() < until && child.exitCode === null) await sleep(15);
      await sleep(rand() * 300);
      child.kill('SIGKILL');
      await exited(child);
      kills += 1;
      if (process.env.KILL_TEST_DEBUG) console.error(`kill ${kills} at ${Date.now()}`);
    }
    expect(kills).toBe(KILLS);

    // a last, clean run: it recovers, reconciles, and settles
    await sql`delete from tasks`;
    await sql`insert into tasks(status) select 'queued' from generate_series(1, 3)`;
    const startedAt = await cycles();
    const child = start({ LOG_LEVEL: 'info' });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d.toString();
    });
    const live = async () =>
      (
        await sql`select worker_id, pod_id from workers where status in ('spawning', 'active', 'terminating') order by worker_id`
      ).map((r) => ({ worker: r.worker_id as string, pod: r.pod_id as string | null }));
    const pods = () =>
      [...api.pods.values()]
        .filter((p) => p.status !== 'TERMINATED')
        .map((p) => p.id)
        .sort();
    const deadline = Date.now() + 30_000;
    let settled = false;
    while (Date.now() < deadline && !settled) {
      await sleep(300);
      const w = await live();
      const [{ behind }] = await sql`select count(*)::int as behind from events e
        where e.event_type = 'ScalingDecided' and not exists (
          select 1 from projection_checkpoints c where c.name = 'reactor' and c.global_position >= e.global_position)`;
      // this run must have cycled: the last kill can leave 3 live workers with pods, and a SIGTERM
      // before the service has installed its handlers ends it by the signal (code null)
      const ran = (await cycles()) > startedAt;
      settled = ran && behind === 0 && w.length === 3 && w.every((x) => x.pod) && pods().length === 3;
    }
    child.kill('SIGTERM');
    const code = await Promise.race([exited(child), sleep(20_000).then(() => 'still running')]);
    if (code === 'still running') child.kill('SIGKILL');
    expect({ code, stderr: code === 0 ? '' : stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });

    const workers = await live();
    if (process.env.KILL_TEST_DEBUG) {
      const rows =
        await sql`select w.worker_id, w.status, w.pod_id, (select string_agg(e.event_type, ',' order by e.stream_version) from events e where e.stream_id = 'worker-' || w.worker_id) as h from workers w where w.status in ('spawning', 'active', 'terminating')`;
      console.error(
        JSON.stringify(rows, null, 1),
        JSON.stringify([...api.pods.values()].map((p) => [p.id, p.name, p.status])),
      );
      const cp = await sql`select * from projection_checkpoints`;
      const last =
        await sql`select global_position, event_type, data->>'decision' as d, data->>'delta' as n from events where stream_id = 'controller' and event_type = 'ScalingDecided' order by global_position desc limit 3`;
      console.error(JSON.stringify(cp), JSON.stringify(last));
      const hist =
        await sql`select data->>'cycle' as c, data->>'total' as t, data->'current'->>'total' as cur, data->>'decision' as d, data->>'delta' as n, data->'reasons' as r from events where event_type = 'ScalingDecided' and data->>'decision' <> 'MAINTAIN' order by global_position`;
      console.error(hist.map((h) => `${h.c} t=${h.t} cur=${h.cur} ${h.d} ${h.n} ${JSON.stringify(h.r)}`).join('\n'));
      const held =
        await sql`select count(*) from events where event_type = 'ScalingDecided' and data::text like '%held%'`;
      console.error('held', JSON.stringify(held));
    }
    expect({ seed, live: workers.length, pods: pods().length }).toEqual({ seed, live: 3, pods: 3 });
    expect(workers.map((w) => w.pod).sort()).toEqual(pods());
    // no idempotency key (pod name) was ever created twice
    const names = api
      .requestsTo('create')
      .filter((r) => r.status === 201)
      .map((r) => (r.body as { name: string }).name);
    expect(names.length).toBeGreaterThan(3);
    expect(new Set(names).size).toBe(names.length);
    // and every pod ever created is accounted for by a worker stream or an orphan record
    const known = await sql`select count(*)::int as n from events where event_type in ('WorkerSpawnRequested')`;
    expect(known[0].n).toBeGreaterThanOrEqual(names.length);
    expect(stderr).not.toContain('rp-test-key');
  }, 300_000);
});
