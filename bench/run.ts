import { execFileSync } from 'node:child_process';
import postgres from 'postgres';
import { openPostgresDb, postgresClient } from '../src/store/db-postgres';
import { storeOn } from '../src/store/index';
import { NODE_MAX_OLD_SPACE_MB } from '../src/util/node-flags';
import { benchRegistry } from './bench-events';
import { cycleCostBench } from './cycle-cost';
import { collectGarbage, RssSampler, timeMs } from './measure';
import { type PoolQueryReport, poolQueryBench, printPoolQueries } from './pool-queries';
import { type PoolCycleResult, poolsBench, printPoolResults } from './pools';
import { printQueryTimings, type QueryTiming, queryBench } from './queries';
import type { RawSql } from './raw-client';
import { REPLAY_EVENTS, REPLAY_RSS_TARGET_MB, ReplayBench, type ReplaySide } from './replay-workload';
import { printResults, type SideResult, type WorkloadResult } from './report';
import { benchServer } from './server';
import { simulateBench } from './simulate';
import { type Side, storeWorkloads, type Workload, WRITERS } from './store-workloads';

/**
 * `npm run bench`: the event store against raw SQL through porsager's `postgres` on the same
 * server, in the same run, over the same pool of connections (so both sides talk to the same
 * server processes: on a small machine where a backend lands next to the client changes a run by
 * 10-20%). Each workload warms up raw then ours, then runs rounds in ABBA order (raw, ours, ours,
 * raw, ...), so drift and "who ran second" cancel out; the table shows each side's median run and
 * the median of the per-round ratios. Each replay run is a process of its own, so its peak RSS is
 * that run's and not what the workloads before it left on the heap. Targets are reported, never
 * enforced (exit 0).
 *
 * BENCH_ROUNDS: measured rounds per side for the store workloads (1 to 9, default 5).
 * BENCH_REPLAY_ROUNDS: the same for the replay (1 to 9, default 3; a round is about a minute).
 * BENCH_ONLY: a comma list of workloads to run (simulate, cycles, single, batch, concurrent, read, replay, queries).
 * `cycles`: ms per simulated cycle on day 1 and day 30 of one run, and 7 days of simulate as a process
 * (bench/cycle-cost.ts; BENCH_CYCLE_DAYS to change the 30); no server needed.
 * `simulate`: gpu-scaler simulate --compare on the shared traces (bench/simulate.ts); no server needed.
 * `queries`: the CLI's reads (events --since/--type, status, explain --cycle) on BENCH_REPLAY_EVENTS
 * events, beside the statement each needs most, by hand (BENCH_ROUNDS rounds, ABBA).
 * BENCH_REPLAY_EVENTS: the replay's size (default 1,000,000).
 * `pools`: BENCH_POOLS pools (default 100) x BENCH_POOL_CYCLES 30 s cycles (default 40) in one process on
 * the server, with and without a global GPU cap: each pool's cycle p50/p99 while all run, and the
 * events and system_logs rows a pool-cycle writes, per day (bench/pools.ts).
 * `pool-queries`: the CLI's reads (status, events --since 1h, explain --cycle, --pool) on
 * BENCH_POOL_EVENTS events (default 10,000,000) shaped like 100 pools' record, in process and as
 * spawned CLI processes (bench/pool-queries.ts).
 */
const rounds = (name: string, fallback: number) =>
  Math.min(9, Math.max(1, Number.parseInt(process.env[name] ?? String(fallback), 10) || fallback));
const ROUNDS = rounds('BENCH_ROUNDS', 5);
const REPLAY_ROUNDS = rounds('BENCH_REPLAY_ROUNDS', 3);
const POOL = WRITERS + 2;
const WORKLOADS = [
  'simulate',
  'cycles',
  'single',
  'batch',
  'concurrent',
  'read',
  'replay',
  'queries',
  'pools',
  'pool-queries',
] as const;
const CHILD_FLAG = '--replay-child';

function selected(): Set<string> {
  const only = process.env.BENCH_ONLY?.trim();
  if (!only) return new Set(WORKLOADS);
  const names = only.split(',').map((s) => s.trim().toLowerCase());
  const unknown = names.filter((n) => !(WORKLOADS as readonly string[]).includes(n));
  if (unknown.length) {
    throw new Error(`BENCH_ONLY: unknown workload ${unknown.join(', ')}; allowed: ${WORKLOADS.join(', ')}`);
  }
  return new Set(names);
}

async function measure(w: Workload, side: Side, round: number, into: SideResult): Promise<void> {
  let events = 0;
  if (w.trackRss) {
    collectGarbage();
    into.startRss!.push(process.memoryUsage.rss());
    const rss = new RssSampler();
    into.ms.push(await timeMs(async () => (events = await side.run(round, () => rss.sample()))));
    into.peakRss!.push(rss.stop());
  } else {
    into.ms.push(await timeMs(async () => (events = await side.run(round))));
  }
  into.events = events;
}

async function runWorkload(w: Workload, rounds = ROUNDS): Promise<WorkloadResult> {
  const fresh = (): SideResult =>
    w.trackRss ? { events: 0, ms: [], peakRss: [], startRss: [] } : { events: 0, ms: [] };
  const result: WorkloadResult = { name: w.name, target: w.target, raw: fresh(), ours: fresh() };
  process.stderr.write(`bench: ${w.name} ...`);
  const t0 = Date.now();
  await w.prepare?.();
  await w.raw.warm();
  await w.ours.warm();
  for (let round = 0; round < rounds; round++) {
    // ABBA: raw first in even rounds, ours first in odd ones; ms[i] of both sides is round i.
    const order = round % 2 === 0 ? (['raw', 'ours'] as const) : (['ours', 'raw'] as const);
    for (const side of order) await measure(w, w[side], round, result[side]);
  }
  process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  result.problems = w.problems ?? [];
  return result;
}

/**
 * The node flags every run of the replay gets: the product's own (`npm start` and the gpu-scaler
 * bin run node with them), so the peak RSS is the one an operator sees.
 */
const REPLAY_NODE_FLAGS = [`--max-old-space-size=${NODE_MAX_OLD_SPACE_MB}`];

interface ChildRun {
  ms: number;
  events: number;
  peakRss: number;
  startRss: number;
  problems: string[];
  profiles: string[];
}

/** One measured run of one side of the replay, in this (fresh) process. */
async function childRun(url: string, schema: string, side: ReplaySide): Promise<ChildRun> {
  const rb = new ReplayBench(url, schema);
  try {
    await rb.open(false);
    await rb.warm(side);
    collectGarbage();
    const startRss = process.memoryUsage.rss();
    const rss = new RssSampler();
    let events = 0;
    const ms = await timeMs(async () => (events = await rb.run(side, () => rss.sample())));
    return { ms, events, peakRss: rss.stop(), startRss, problems: rb.problems, profiles: rb.profiles };
  } finally {
    await rb.close(false);
  }
}

/**
 * The replay: filled once here, then each run in a process of its own (ABBA, REPLAY_ROUNDS rounds),
 * so a run's peak RSS is that run's alone and not what the runs or workloads before it left
 * behind; between runs the server is settled (ReplayBench.settle, not timed).
 */
async function replayBench(url: string, benchSchema: string): Promise<WorkloadResult> {
  const schema = ReplayBench.schemaFor(benchSchema);
  const name = `replay (${REPLAY_EVENTS.toLocaleString('en')} events; peak RSS target < ${REPLAY_RSS_TARGET_MB} MB)`;
  const side = (): SideResult => ({ events: 0, ms: [], peakRss: [], startRss: [] });
  const result: WorkloadResult = { name, target: 0.5, raw: side(), ours: side(), problems: [] };
  process.stderr.write(`bench: ${name} ...`);
  const t0 = Date.now();
  const rb = new ReplayBench(url, schema);
  const settle = new ReplayBench(url, schema);
  try {
    const fillMs = await rb.open(true);
    await rb.close(false);
    await settle.open(false);
    await settle.settle();
    process.stderr.write(` (filled in ${(fillMs / 1000).toFixed(1)} s)`);
    const profiles: string[] = [];
    for (let round = 0; round < REPLAY_ROUNDS; round++) {
      const order: ReplaySide[] = round % 2 === 0 ? ['raw', 'ours'] : ['ours', 'raw'];
      for (const s of order) {
        const out = execFileSync(process.execPath, [...REPLAY_NODE_FLAGS, __filename, CHILD_FLAG, s], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { ...process.env, BENCH_DATABASE_URL: url, BENCH_CHILD_SCHEMA: schema },
        });
        const run = JSON.parse(out.trim().split('\n').pop() ?? '') as ChildRun;
        const into = result[s];
        into.ms.push(run.ms);
        into.events = run.events;
        into.peakRss!.push(run.peakRss);
        into.startRss!.push(run.startRss);
        for (const p of run.problems) if (!result.problems!.includes(p)) result.problems!.push(p);
        profiles.push(...run.profiles);
        await settle.settle();
      }
    }
    process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    process.stderr.write(`  where the replay's time went (sums of step times, which overlap):\n`);
    for (const p of profiles) process.stderr.write(`    ${p}\n`);
  } finally {
    await settle.close(false);
    await rb.open(false).catch(() => {});
    await rb.close(true);
  }
  return result;
}

async function child(): Promise<void> {
  const side = process.argv[process.argv.indexOf(CHILD_FLAG) + 1] as ReplaySide;
  const run = await childRun(process.env.BENCH_DATABASE_URL!, process.env.BENCH_CHILD_SCHEMA!, side);
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

async function main(): Promise<void> {
  const only = selected();
  // the backtests need no server: they run first, and alone with BENCH_ONLY=simulate
  if (only.has('simulate')) await simulateBench();
  if (only.has('cycles')) await cycleCostBench();
  if ([...only].every((w) => w === 'simulate' || w === 'cycles')) return;
  const server = benchServer();
  const onSignal = (sig: NodeJS.Signals) => {
    server.stop();
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const schema = `bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    // One pool for both sides: the store's settings (search_path on the bench schema, int8 as a
    // JS number), so a ratio measures the store's layer and nothing else.
    const client = postgresClient({ url: server.url, schema, max: POOL, applicationName: 'gpu-scaler-bench' });
    const db = await openPostgresDb({ url: server.url, schema, client });
    const store = await storeOn(db, benchRegistry());
    const raw = client as unknown as RawSql;
    try {
      await raw`create table raw_events (like events including all)`;
      const [{ version }] = await admin<{ version: string }[]>`select current_setting('server_version') as version`;
      const settings = await admin<{ name: string; setting: string }[]>`
        select name, setting from pg_settings where name in ('fsync', 'synchronous_commit', 'shared_buffers')`;
      console.log(`gpu-scaler event store benchmark: node ${process.version}, PostgreSQL ${version}`);
      console.log(`server: ${server.origin}; ${settings.map((s) => `${s.name}=${s.setting}`).join(', ')}`);
      console.log(
        `schema ${schema}; raw and ours share one pool of ${POOL} connections; the store listens for NOTIFY like openStore`,
      );
      console.log(
        `order: per workload, warm-up raw then ours (~100 ops each), then ${ROUNDS} rounds per side in ABBA order ` +
          `(the replay: ${REPLAY_ROUNDS}, each run in a process of its own, the server settled between runs: ` +
          'VACUUM ANALYZE of the rebuilt tables and a CHECKPOINT); medians\n',
      );

      const results: WorkloadResult[] = [];
      for (const w of storeWorkloads(store, raw)) {
        if (only.has(w.key)) results.push(await runWorkload(w));
      }
      if (only.has('replay')) results.push(await replayBench(server.url, schema));
      let queries: QueryTiming[] = [];
      if (only.has('queries')) {
        process.stderr.write(`bench: CLI queries on ${REPLAY_EVENTS.toLocaleString('en')} events ...`);
        const t0 = Date.now();
        queries = await queryBench(server.url, schema, ROUNDS);
        process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      }
      let pools: PoolCycleResult[] = [];
      if (only.has('pools')) pools = await poolsBench(server.url, schema);
      let poolQueries: PoolQueryReport | null = null;
      if (only.has('pool-queries')) poolQueries = await poolQueryBench(server.url, schema, ROUNDS);
      console.log('');
      if (results.length) printResults(results);
      if (queries.length) printQueryTimings(queries);
      if (pools.length) printPoolResults(pools);
      if (poolQueries) printPoolQueries(poolQueries);
    } finally {
      await store.close();
    }
  } finally {
    try {
      await admin.unsafe(`drop schema if exists "${schema}" cascade`);
    } finally {
      await admin.end({ timeout: 5 });
      server.stop();
    }
  }
}

const entry = process.argv.includes(CHILD_FLAG) ? child : main;
entry().then(
  () => process.exit(0),
  (err) => {
    console.error('bench failed:', err);
    process.exit(1);
  },
);
