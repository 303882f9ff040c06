import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { appRegistry } from '../../events/index';
import { openStore } from '../../src/store/index';
import { FakeRunpodApi } from '../fakes/runpod-api';
import { serverDatabase, TEST_DATABASE_URL } from '../helpers/backends';
import { buildDist, exited, type ServiceProcess, startService } from '../helpers/service-process';
import { waitFor } from '../helpers/wait';

const TASKS: Record<string, number> = { video: 3, image: 2 };

// Two replicas of the service share two pools on one server, each pool on a RunPod of its own (a
// fake, outside both processes, so every pod outlives the replica that made it). kill -9 of the
// replica leading a pool: the other takes the pool over, and no pod is ever made twice.
(TEST_DATABASE_URL ? describe : describe.skip)('replicas share the pools', () => {
  let url: string;
  let dropDatabase: (() => Promise<void>) | undefined;
  let sql: postgres.Sql;
  let dir: string;
  const apis: Record<string, FakeRunpodApi> = {};
  const replicas: ServiceProcess[] = [];

  beforeAll(async () => {
    buildDist(); // the replicas run from dist/, as `npm start` does
    const made = await serverDatabase('gs_replicas');
    url = made.url;
    dropDatabase = made.drop;
    await (await openStore({ target: url, registry: appRegistry, listen: false })).close(); // migrate
    sql = postgres(url, { max: 2, onnotice: () => {} });
    for (const pool of Object.keys(TASKS)) {
      apis[pool] = new FakeRunpodApi({ apiKey: 'rp-test-key', readyOnCreate: true, createDelayMs: 15 });
      await apis[pool].start();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-replicas-'));
  }, 120_000);

  afterAll(async () => {
    for (const r of replicas) r.child.kill('SIGKILL');
    await Promise.all(replicas.map((r) => exited(r.child)));
    for (const api of Object.values(apis)) await api.stop();
    await sql?.end();
    await dropDatabase?.();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const config = () => {
    const file = path.join(dir, 'pools.yaml');
    fs.writeFileSync(
      file,
      `PROVIDER: runpod
RUNPOD_API_KEY: \${RP_KEY}
RUNPOD_IMAGE_NAME: ghcr.io/example/worker:1
RUNPOD_GPU_TYPE_IDS: NVIDIA A40
RUNPOD_BACKOFF_BASE_SEC: 0.005
RUNPOD_REQUEST_TIMEOUT_SEC: 2
RUNPOD_LIST_LAG_SEC: 0.5
POLICY: operators
POLL_INTERVAL_SEC: 0.2
HTTP_PORT: 0
MAX_WORKERS: 6
DECISION_STALE_SEC: 3600
pools:
${Object.keys(TASKS)
  .map((pool) => `  ${pool}:\n    RUNPOD_API_URL: ${apis[pool].v2}\n`)
  .join('')}`,
    );
    return file;
  };
  const start = (name: string, file: string) => {
    const r = startService(dir, {
      DATABASE_URL: url,
      GPU_SCALER_CONFIG: file,
      RP_KEY: 'rp-test-key',
      LOG_FILE: path.join(dir, `${name}.log`),
      DB_LOGGING_ERRORS_FILE: path.join(dir, `${name}-errors.log`),
    });
    replicas.push(r);
    return r;
  };
  /** The pid of the replica holding a pool's lease (its holder id is host:pid:uuid), null when free. */
  const leaderPid = async (pool: string) => {
    const [row] = await sql`select holder from controller_lease
      where name = ${`controller@${pool}`} and holder is not null and expires_at > now()
        and exists (select 1 from pg_stat_activity a where a.pid = holder_pid)`;
    return row ? Number(String(row.holder).split(':')[1]) : null;
  };
  const livePods = (pool: string) => [...apis[pool].pods.values()].filter((p) => p.status !== 'TERMINATED').length;
  const liveWorkers = async (pool: string) =>
    (
      await sql`select count(*)::int as n from workers
        where pool = ${pool} and status in ('spawning', 'active', 'terminating')`
    )[0].n as number;
  const settled = async () => {
    for (const pool of Object.keys(TASKS)) {
      if (livePods(pool) !== TASKS[pool] || (await liveWorkers(pool)) !== TASKS[pool]) return false;
    }
    return true;
  };

  test('each replica leads one pool; kill -9 of a leader: the other leads both within two cycles, no pod made twice', async () => {
    for (const [pool, n] of Object.entries(TASKS)) {
      await sql`insert into tasks(status, pool) select 'queued', ${pool} from generate_series(1, ${n}::int)`;
    }
    const file = config();
    const a = start('a', file);
    const b = start('b', file);
    const pids = [a.child.pid, b.child.pid];
    // the pools spread: one each (share ceil(2 / 2) = 1)
    await waitFor(
      async () => {
        const [video, image] = [await leaderPid('video'), await leaderPid('image')];
        return video !== null && image !== null && video !== image && pids.includes(video) && pids.includes(image);
      },
      'each replica to lead one pool',
      60_000,
      { describe: () => `${a.out().slice(-1500)}\n---\n${b.out().slice(-1500)}` },
    );
    await waitFor(settled, 'both pools to settle on a pod per task', 60_000);

    const victimPid = (await leaderPid('video')) as number;
    const [victim, survivor] = victimPid === a.child.pid ? [a, b] : [b, a];
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await exited(victim.child);
    await waitFor(async () => (await leaderPid('video')) === survivor.child.pid, 'the survivor to lead video', 20_000);
    const takeoverMs = Date.now() - killedAt;
    // it says so, and the cycle count goes on from the killed replica's
    await waitFor(
      () => /\[video\] 👑 Leading: .*resuming after cycle #[1-9]\d*\n/.test(survivor.out()),
      'the survivor to say it leads video',
      20_000,
    );
    expect(await leaderPid('image')).toBe(survivor.child.pid);
    await waitFor(settled, 'both pools to settle again under one replica', 60_000);

    // no idempotency key (pod name) was created twice, in either pool
    for (const pool of Object.keys(TASKS)) {
      const names = apis[pool]
        .requestsTo('create')
        .filter((r) => r.status === 201)
        .map((r) => (r.body as { name: string }).name);
      expect({ pool, created: names.length }).toEqual({ pool, created: TASKS[pool] });
      expect(new Set(names).size).toBe(names.length);
    }
    console.log(`kill -9 of the leader of video: led again by the other replica after ${takeoverMs} ms`);
    expect(takeoverMs).toBeLessThan(10_000);

    // SIGHUP: a pool added is refused whole; a change within the pools is taken by each
    fs.writeFileSync(file, `${fs.readFileSync(file, 'utf8')}  audio:\n    MAX_WORKERS: 1\n`);
    survivor.child.kill('SIGHUP');
    await waitFor(() => survivor.out().includes('CONFIGURATION RELOAD REFUSED'), 'the reload to be refused');
    expect(survivor.out()).toContain(
      'the configuration adds pool audio: pools cannot be added or removed while the service runs (running: video, image)',
    );
    config(); // the two pools again
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('MAX_WORKERS: 6', 'MAX_WORKERS: 5'));
    survivor.child.kill('SIGHUP');
    await waitFor(
      () => /\[image\] 🔁 CONFIGURATION RELOADED.*MAX_WORKERS 6 -> 5/.test(survivor.out()),
      'the image pool to take its change',
    );
    expect(survivor.out()).toMatch(/\[video\] 🔁 CONFIGURATION RELOADED.*MAX_WORKERS 6 -> 5/);

    survivor.child.kill('SIGTERM');
    expect(await exited(survivor.child)).toEqual({ code: 0, signal: null });
  }, 240_000);
});
