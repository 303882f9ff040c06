import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { appRegistry } from '../events/index';
import { openStore } from '../src/store/index';
import { leaseName } from '../src/store/leader-lock';
import { packageRoot } from '../src/util/package-root';
import { FakeRunpodApi } from '../test/fakes/runpod-api';
import { benchServer } from './server';

/**
 * `npm run bench:replicas` (docs/replicas.md): replicas of `gpu-scaler start` (real processes, from
 * dist/) share 12 pools on one PostgreSQL server, under a GLOBAL_MAX_ACTIVE_GPUS below the pools'
 * joint demand, every pool on one RunPod account (the stand-in test/fakes/runpod-api.ts, a real HTTP
 * server in this process, so every pod outlives the replica that made it and every create of every
 * replica is seen in one place). While the pools' queues change at random, the leader of a random
 * pool is killed with SIGKILL at a random moment, and a new replica is started in its place; per
 * trial:
 *
 * - takeover: from the kill to the pool's next ScalingDecided (the events table's recorded_at),
 *   made by another replica (the killed one is gone); also the slowest of every pool it led;
 * - rebalance: from the new replica's start to every replica leading its share, ceil(pools / N);
 * - duplicate pods: pods made under a name (the worker id, the idempotency key) a pod already had;
 * - instants over the global cap: at every create, the GPUs of every live pod at the stand-in
 *   against GLOBAL_MAX_ACTIVE_GPUS;
 * - cycles led twice: a decision of a pool logged by a replica after another replica had begun
 *   leading it and before this one said it leads it again (its lead overlapped another's), and
 *   cycle numbers of a pool decided twice in the events table.
 *
 * BENCH_REPLICAS: replica counts to run, a comma list (default "2,4"). BENCH_TRIALS: kills per count
 * (default 20). BENCH_POOLS (default 12), BENCH_POLL_SEC (default 1), BENCH_GLOBAL_GPUS (default 16).
 * BENCH_DATABASE_URL: the server (else a throwaway one, .ci/pg-start.sh); a database of its own is
 * made on it per replica count and dropped after.
 */

const envInt = (name: string, fallback: number, min: number, max: number): number => {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name}=${raw}: expected an integer from ${min} to ${max}`);
  return n;
};
const envNum = (name: string, fallback: number, min: number, max: number): number => {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`${name}=${raw}: expected a number from ${min} to ${max}`);
  return n;
};
const replicaCounts = (): number[] => {
  const raw = process.env.BENCH_REPLICAS?.trim() || '2,4';
  return raw.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 2 || n > 8)
      throw new Error(`BENCH_REPLICAS=${raw}: expected a comma list of integers from 2 to 8`);
    return n;
  });
};

const TRIALS = envInt('BENCH_TRIALS', 20, 1, 500);
const POOLS = envInt('BENCH_POOLS', 12, 2, 100);
const POLL_SEC = envNum('BENCH_POLL_SEC', 1, 0.2, 30);
const GLOBAL_GPUS = envInt('BENCH_GLOBAL_GPUS', 16, 1, 10_000);
/** Each pool's queue is set to 0..MAX_QUEUE tasks at random (a worker per task, MAX_WORKERS each). */
const MAX_QUEUE = 6;
const RP_KEY = 'rp-bench-key';
const pollMs = POLL_SEC * 1000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const rand = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)];

/** The p-th percentile (nearest rank) of xs, NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const poolNames = Array.from({ length: POOLS }, (_, i) => `p${String(i + 1).padStart(2, '0')}`);

/** The configuration file every replica runs: 12 pools on one RunPod account, under a global GPU cap. */
function configFile(dir: string, apiUrl: string): string {
  const file = path.join(dir, 'pools.yaml');
  const pools = poolNames
    .map((p, i) => `  ${p}:\n    PRIORITY: ${i % 3 === 0 ? 10 : 0}\n    RUNPOD_GPU_TYPE_IDS: ${GPU_TYPES[i % 3]}\n`)
    .join('');
  fs.writeFileSync(
    file,
    `PROVIDER: runpod
RUNPOD_API_KEY: \${RP_KEY}
RUNPOD_API_URL: ${apiUrl}
RUNPOD_IMAGE_NAME: ghcr.io/example/worker:1
RUNPOD_BACKOFF_BASE_SEC: 0.05
RUNPOD_REQUEST_TIMEOUT_SEC: 5
RUNPOD_LIST_LAG_SEC: 0.5
POLICY: operators
GPU_IDLE_TIMEOUT_SEC: 2
POLL_INTERVAL_SEC: ${POLL_SEC}
HTTP_PORT: 0
MAX_WORKERS: ${MAX_QUEUE}
MAX_ACTIVE_GPUS: ${MAX_QUEUE}
GLOBAL_MAX_ACTIVE_GPUS: ${GLOBAL_GPUS}
DECISION_STALE_SEC: 3600
pools:
${pools}`,
  );
  return file;
}
const GPU_TYPES = ['NVIDIA H100 80GB HBM3', 'NVIDIA GeForce RTX 4090', 'NVIDIA L4'];

/** One `gpu-scaler start`, its output parsed as it comes (each line timed on arrival). */
interface Replica {
  name: string;
  child: ChildProcess;
  pid: number;
  exited: Promise<void>;
}

/** A decision of a pool as a replica logged it, and in which of its terms of leading that pool. */
interface Logged {
  t: number;
  replica: string;
  pool: string;
  cycle: number;
  term: number;
}

const DECISION = /\[([a-z0-9-]+)\] 🎯 SCALING DECISION \(Cycle #(\d+)\)/;
const LEADING = /\[([a-z0-9-]+)\] 👑 Leading:/;
const FAILED = /\[([a-z0-9-]+)\] ❌ Cycle #\d+ failed/;

interface RunResult {
  replicas: number;
  trials: number;
  takeoverMs: number[];
  takeoverAllMs: number[];
  rebalanceMs: number[];
  joinMs: number[];
  notTakenOver: number;
  notRebalanced: number;
  creates: number;
  duplicatePods: number;
  overCapInstants: number;
  peakLiveGpus: number;
  doubleLedDecisions: number;
  cyclesDecidedTwice: number;
  cycleFailures: number;
  decisions: number;
  durationSec: number;
  load: [string, string];
}

async function runReplicas(n: number, serverUrl: string): Promise<RunResult> {
  const t00 = Date.now();
  const loadBefore = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  const dbName = `gs_bench_replicas_${n}_${process.pid}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${dbName} with (force)`);
  await admin.unsafe(`create database ${dbName}`);
  const u = new URL(serverUrl);
  u.pathname = `/${dbName}`;
  const url = u.toString();
  await (await openStore({ target: url, registry: appRegistry, listen: false })).close(); // migrate
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gpu-scaler-bench-replicas-${n}-`));

  // The RunPod account every pool shares: at each create, the GPUs of every live pod against the cap.
  let creates = 0;
  let overCap = 0;
  let peak = 0;
  const api = new FakeRunpodApi({
    apiKey: RP_KEY,
    readyOnCreate: true,
    createDelayMs: 30,
    onCreate: () => {
      creates += 1;
      const live = api.runningPods().reduce((sum, p) => sum + (p.gpu?.count ?? 0), 0);
      peak = Math.max(peak, live);
      if (live > GLOBAL_GPUS) overCap += 1;
    },
  });
  await api.start();
  const file = configFile(dir, api.v2);

  const logged: Logged[] = [];
  const terms = new Map<string, number>(); // `${replica} ${pool}` -> its current term of leading the pool
  let cycleFailures = 0;
  const replicas: Replica[] = [];
  let started = 0;
  const startReplica = (): Replica => {
    started += 1;
    const name = `r${started}`;
    const child = spawn(process.execPath, [path.join(packageRoot(), 'bin/gpu-scaler.js'), 'start'], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: url,
        GPU_SCALER_CONFIG: file,
        RP_KEY,
        LOG_FILE: path.join(dir, `${name}.log`),
        DB_LOGGING_ERRORS_FILE: path.join(dir, `${name}-db-errors.log`),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = fs.createWriteStream(path.join(dir, `${name}.out`));
    let rest = '';
    const onData = (c: Buffer) => {
      const t = Date.now();
      out.write(c);
      const lines = (rest + c.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const lead = LEADING.exec(line);
        if (lead) terms.set(`${name} ${lead[1]}`, (terms.get(`${name} ${lead[1]}`) ?? 0) + 1);
        const d = DECISION.exec(line);
        if (d)
          logged.push({ t, replica: name, pool: d[1], cycle: Number(d[2]), term: terms.get(`${name} ${d[1]}`) ?? 0 });
        if (FAILED.test(line)) cycleFailures += 1;
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const r: Replica = { name, child, pid: child.pid ?? -1, exited };
    replicas.push(r);
    return r;
  };

  /** Each pool's live holder (its process id), from the lease rows. */
  const holders = async (): Promise<Map<string, number>> => {
    const rows = await sql`select l.name, l.holder from controller_lease l
      where l.holder is not null and l.expires_at > now()
        and exists (select 1 from pg_stat_activity a where a.pid = l.holder_pid)`;
    const byLease = new Map(poolNames.map((p) => [leaseName(p), p]));
    const out = new Map<string, number>();
    for (const r of rows) {
      const pool = byLease.get(String(r.name));
      if (pool) out.set(pool, Number(String(r.holder).split(':')[1]));
    }
    return out;
  };
  const liveReplicas = async () =>
    Number(
      (
        await sql`select count(*)::int as n from controller_replicas r where r.expires_at > now()
          and exists (select 1 from pg_stat_activity a where a.pid = r.backend_pid)`
      )[0].n,
    );
  const live = () => replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
  /** Every pool led, by the live replicas only, none beyond its share. */
  const balanced = async () => {
    const h = await holders();
    if (h.size !== poolNames.length) return false;
    const pids = live().map((r) => r.pid);
    const share = Math.ceil(poolNames.length / pids.length);
    return pids.every((pid) => {
      const led = [...h.values()].filter((x) => x === pid).length;
      return led >= 1 && led <= share;
    });
  };
  const waitUntil = async (cond: () => Promise<boolean>, ms: number): Promise<boolean> => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (await cond()) return true;
      await sleep(50);
    }
    return false;
  };

  // Demand: every 0.7 s one pool's queue is set to 0..MAX_QUEUE tasks (joint mean 3 x pools, above the cap).
  for (const p of poolNames) {
    await sql`insert into tasks(status, pool) select 'queued', ${p} from generate_series(1, ${Math.floor(rand(0, MAX_QUEUE + 1))}::int)`;
  }
  let driving = true;
  const drive = (async () => {
    while (driving) {
      const p = pick(poolNames);
      const want = Math.floor(rand(0, MAX_QUEUE + 1));
      await sql.begin(async (tx) => {
        await tx`delete from tasks where pool = ${p}`;
        await tx`insert into tasks(status, pool) select 'queued', ${p} from generate_series(1, ${want}::int)`;
      });
      await sleep(700);
    }
  })();

  const result: RunResult = {
    replicas: n,
    trials: 0,
    takeoverMs: [],
    takeoverAllMs: [],
    rebalanceMs: [],
    joinMs: [],
    notTakenOver: 0,
    notRebalanced: 0,
    creates: 0,
    duplicatePods: 0,
    overCapInstants: 0,
    peakLiveGpus: 0,
    doubleLedDecisions: 0,
    cyclesDecidedTwice: 0,
    cycleFailures: 0,
    decisions: 0,
    durationSec: 0,
    load: [loadBefore, ''],
  };
  try {
    for (let i = 0; i < n; i++) startReplica();
    if (!(await waitUntil(balanced, 120_000))) throw new Error(`${n} replicas did not share the pools within 120 s`);
    process.stderr.write(`bench: replicas x${n}: ${n} replicas share ${POOLS} pools; ${TRIALS} kills\n`);
    for (let trial = 1; trial <= TRIALS; trial++) {
      await sleep(rand(pollMs, pollMs * 5)); // a random moment, in any phase of a cycle
      const h = await holders();
      const pool = pick(poolNames);
      const pid = h.get(pool);
      const victim = live().find((r) => r.pid === pid);
      if (!victim) {
        trial -= 1; // the pool is between leaders (a handover): pick another moment
        continue;
      }
      const victimPools = poolNames.filter((p) => h.get(p) === pid);
      const killedAt = Date.now();
      victim.child.kill('SIGKILL');
      await victim.exited;
      // each of its pools' first decision after the kill (the killed replica decides nothing more)
      const firsts = new Map<string, number>();
      await waitUntil(async () => {
        const rows = await sql`select stream_id, extract(epoch from min(recorded_at)) * 1000 as t from events
          where event_type = 'ScalingDecided' and stream_id = any(${victimPools.map((p) => `controller@${p}`)}::text[])
            and recorded_at > to_timestamp(${killedAt / 1000})
          group by stream_id`;
        for (const r of rows) firsts.set(String(r.stream_id).split('@')[1], Number(r.t));
        return firsts.size === victimPools.length;
      }, 30_000);
      const chosen = firsts.get(pool);
      if (chosen === undefined || firsts.size < victimPools.length) result.notTakenOver += 1;
      if (chosen !== undefined) result.takeoverMs.push(chosen - killedAt);
      if (firsts.size === victimPools.length)
        result.takeoverAllMs.push(Math.max(...[...firsts.values()].map((t) => t - killedAt)));
      // a new replica in its place: the pools spread again
      const restartedAt = Date.now();
      startReplica();
      // started once its heartbeat is in (the process is up, its store open, its pools built)
      if (await waitUntil(async () => (await liveReplicas()) === n, 60_000))
        result.joinMs.push(Date.now() - restartedAt);
      const rebalanced = await waitUntil(balanced, 60_000);
      if (rebalanced) result.rebalanceMs.push(Date.now() - restartedAt);
      else result.notRebalanced += 1;
      result.trials += 1;
      process.stderr.write(
        `bench: replicas x${n}: trial ${trial}: killed ${victim.name} (led ${victimPools.length} pools): ${pool} decided again after ${chosen === undefined ? 'never' : `${Math.round(chosen - killedAt)} ms`}, all ${victimPools.length} after ${firsts.size === victimPools.length ? `${Math.round(Math.max(...[...firsts.values()].map((t) => t - killedAt)))} ms` : 'never'}; ${rebalanced ? `rebalanced after ${Date.now() - restartedAt} ms` : 'not rebalanced within 60 s'}\n`,
      );
    }
  } finally {
    driving = false;
    await drive;
    for (const r of live()) r.child.kill('SIGTERM');
    await Promise.all(replicas.map((r) => r.exited));
    // decisions of a pool by a replica whose lead had been overtaken by another's (it went on leading)
    const byPool = new Map<string, Logged[]>();
    for (const l of logged) byPool.set(l.pool, [...(byPool.get(l.pool) ?? []), l]);
    let doubleLed = 0;
    for (const ls of byPool.values()) {
      const overtaken = new Set<string>();
      let current: string | null = null;
      for (const l of ls.sort((a, b) => a.t - b.t)) {
        const key = `${l.replica} ${l.term}`;
        if (overtaken.has(key)) doubleLed += 1;
        else if (current !== key) {
          if (current !== null) overtaken.add(current);
          current = key;
        }
      }
    }
    const twice = await sql`select count(*)::int as n from (
      select stream_id, data->>'cycle' from events where event_type = 'ScalingDecided'
      group by 1, 2 having count(*) > 1) d`;
    result.creates = creates;
    result.duplicatePods = api.duplicates().length;
    result.overCapInstants = overCap;
    result.peakLiveGpus = peak;
    result.doubleLedDecisions = doubleLed;
    result.cyclesDecidedTwice = Number(twice[0].n);
    result.cycleFailures = cycleFailures;
    result.decisions = logged.length;
    result.durationSec = Math.round((Date.now() - t00) / 1000);
    result.load[1] = os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
    await api.stop();
    await sql.end();
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    if (process.env.BENCH_KEEP_LOGS) process.stderr.write(`bench: replicas x${n}: logs kept in ${dir}\n`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

const ms = (x: number) => (Number.isNaN(x) ? '-' : `${Math.round(x)}`);
const dist = (xs: number[]) => `${ms(percentile(xs, 50))} / ${ms(percentile(xs, 95))} / ${ms(Math.max(...xs))}`;

function print(results: RunResult[]): void {
  const cpu = os.cpus();
  process.stdout.write(
    `\nreplicas x ${POOLS} pools on one server: kill -9 of a pool's leader at random moments (POLL_INTERVAL_SEC=${POLL_SEC}, GLOBAL_MAX_ACTIVE_GPUS=${GLOBAL_GPUS}, each pool's queue 0..${MAX_QUEUE} at random; ${cpu.length} CPUs ${cpu[0]?.model ?? ''})\n\n`,
  );
  const rows: [string, (r: RunResult) => string][] = [
    ['trials (kills)', (r) => `${r.trials}`],
    ['takeover ms, the pool killed (p50 / p95 / max)', (r) => dist(r.takeoverMs)],
    ['takeover ms, every pool of the killed (p50 / p95 / max)', (r) => dist(r.takeoverAllMs)],
    ['pools not led again within 30 s', (r) => `${r.notTakenOver}`],
    ['a new replica started: its heartbeat in, ms (p50 / p95 / max)', (r) => dist(r.joinMs)],
    ['rebalanced (each replica its share), ms from its start (p50 / p95 / max)', (r) => dist(r.rebalanceMs)],
    ['not rebalanced within 60 s', (r) => `${r.notRebalanced}`],
    ['pods created', (r) => `${r.creates}`],
    ['duplicate pods (must be 0)', (r) => `${r.duplicatePods}`],
    ['creates over the global cap (must be 0)', (r) => `${r.overCapInstants}`],
    ['peak live GPUs at a create / cap', (r) => `${r.peakLiveGpus} / ${GLOBAL_GPUS}`],
    ['decisions logged', (r) => `${r.decisions}`],
    ['decisions by an overtaken leader (must be 0)', (r) => `${r.doubleLedDecisions}`],
    ['cycle numbers decided twice (must be 0)', (r) => `${r.cyclesDecidedTwice}`],
    ['cycles failed', (r) => `${r.cycleFailures}`],
    ['run time s', (r) => `${r.durationSec}`],
    ['load average before -> after', (r) => `${r.load[0]} -> ${r.load[1]}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`${''.padEnd(w)}  ${results.map((r) => `${r.replicas} replicas`.padEnd(26)).join('')}\n`);
  for (const [k, f] of rows) process.stdout.write(`${k.padEnd(w)}  ${results.map((r) => f(r).padEnd(26)).join('')}\n`);
}

export async function replicasBench(): Promise<RunResult[]> {
  const server = benchServer();
  const results: RunResult[] = [];
  try {
    for (const n of replicaCounts()) results.push(await runReplicas(n, server.url));
  } finally {
    server.stop();
  }
  print(results);
  return results;
}

if (require.main === module) {
  // the replicas run from dist/, as `npm start` does: it must be built (npm run bench:replicas builds it)
  if (!fs.existsSync(path.join(packageRoot(), 'dist/src/cli/main.js'))) execFileSync('npm', ['run', 'build']);
  replicasBench().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`bench: replicas: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
