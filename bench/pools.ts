import { Writable } from 'node:stream';
import { appRegistry } from '../events/index';
import { ALL_PROJECTIONS } from '../projections/index';
import { FakeClock } from '../src/clock';
import { type Config, loadConfig } from '../src/config';
import type { Configuration } from '../src/config-file';
import { controlLog, poolLog } from '../src/logging/control-log';
import { createLogging } from '../src/logging/index';
import { type PoolsPlan, poolsPlan, priorityLevels } from '../src/pools/plan';
import { ProjectionRunner } from '../src/projections/runner';
import { SimulatedProvider } from '../src/providers/simulated';
import type { TaskSource } from '../src/sources/source';
import { openPostgresDb, postgresClient } from '../src/store/db-postgres';
import type { EventStore } from '../src/store/event-store';
import { storeOn } from '../src/store/index';
import { buildSystem, type System } from '../src/system';
import type { RawSql } from './raw-client';

/**
 * `pools`: many pools in one process on one PostgreSQL server, as `gpu-scaler start` runs them
 * (src/service.ts): one store (the service's 10 connections), one ProjectionRunner, one logging
 * with system_logs, each pool its own simulated provider and source, its controller and reactor
 * built by buildSystem with the plan of every pool. Time is simulated: a fake clock, stepped 30 s a
 * cycle; every cycle runs the pools' controllers side by side, a priority at a time (as the service does),
 * then the reactors act and the projections follow (the service runs those in the background, so
 * they are timed apart). What is measured is the real time each pool's cycle takes while all the
 * others run theirs.
 */

/** Pools, cycles and warm-up (BENCH_POOLS, BENCH_POOL_CYCLES). */
export const POOLS = Math.max(2, Number.parseInt(process.env.BENCH_POOLS ?? '100', 10) || 100);
export const POOL_CYCLES = Math.max(4, Number.parseInt(process.env.BENCH_POOL_CYCLES ?? '40', 10) || 40);
/** Cycles not measured at the start (the first decisions, the JIT). */
const WARM_CYCLES = 5;
/** Every pool's most GPUs; with the cap, the pools want together about twice what it allows. */
const POOL_MAX_GPUS = 8;
export const CYCLES_PER_DAY = 2880;

const sink = () =>
  new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });

const poolName = (i: number) => `p${String(i).padStart(3, '0')}`;

/**
 * A pool's demand: a wave of its own period and phase (an hour or two of simulated time), so in a
 * run of a few dozen cycles pools scale up, hold and scale down, not all at once.
 */
class WaveSource implements TaskSource {
  readonly name = 'bench-wave';
  constructor(
    private readonly clock: FakeClock,
    private readonly index: number,
    private readonly start: number,
  ) {}
  async fetch(): Promise<unknown> {
    const cycle = (this.clock.now().getTime() - this.start) / 30_000;
    const period = 40 + (this.index % 7) * 10;
    const phase = (this.index * 0.37) % 1;
    const level = 0.5 - 0.5 * Math.cos(2 * Math.PI * (cycle / period + phase));
    const queued = Math.round(level * (POOL_MAX_GPUS + (this.index % 3)));
    return { queued, active: Math.min(queued, this.index % 4) };
  }
}

export interface PoolCycleResult {
  variant: string;
  pools: number;
  cycles: number;
  /** Each pool's controller cycle (ms, real time), all pools and measured cycles. */
  cycleMs: number[];
  /** The whole cycle of all pools (Promise.all), per cycle. */
  allPoolsMs: number[];
  /** The reactors' and the projections' catch-up after each cycle (not on the cycle's path). */
  reactorsMs: number[];
  projectionsMs: number[];
  eventsPerPoolCycle: number;
  logsPerPoolCycle: number;
  eventBytesPerPoolCycle: number;
  logBytesPerPoolCycle: number;
  /** Events of each type per pool-cycle. */
  byType: Record<string, number>;
  /** Live workers at the end, all pools. */
  liveWorkers: number;
  liveGpusPeak: number;
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export interface PoolRunOptions {
  url: string;
  schema: string;
  /** GLOBAL_MAX_ACTIVE_GPUS (null: none). */
  cap: number | null;
  cycles?: number;
  /** The fake clock's start (default 2026-03-02). */
  start?: string;
  /** Keep the schema (the record is a template for pool-queries). */
  keep?: boolean;
}

/** The cap the `cap` variant runs with: a quarter of what the pools could want together. */
export const poolsCap = () => Math.round((POOLS * POOL_MAX_GPUS) / 4);

export async function runPools(o: PoolRunOptions): Promise<PoolCycleResult> {
  const { url, schema, cap } = o;
  const cycles = o.cycles ?? POOL_CYCLES;
  const client = postgresClient({ url, schema, applicationName: 'gpu-scaler-bench-pools' });
  const raw = client as unknown as RawSql;
  await raw.unsafe(`create schema if not exists "${schema}"`);
  const db = await openPostgresDb({ url, schema, client });
  const store: EventStore = await storeOn(db, appRegistry, false);
  const startAt = o.start ?? '2026-03-02T00:00:00.000Z';
  const clock = new FakeClock(startAt);
  const logging = await createLogging(
    { format: 'json', level: 'info', logFile: null, stdout: sink(), stderr: sink(), now: () => clock.now() },
    store.db,
  );
  const base: Record<string, string> = {
    POLICY: 'operators',
    PROVIDER: 'simulated',
    SIM_STARTUP_MIN_SEC: '60',
    SIM_STARTUP_MAX_SEC: '180',
    SIM_FAILURE_RATE: '0',
    MAX_WORKERS: String(POOL_MAX_GPUS + 2),
    MAX_ACTIVE_GPUS: String(POOL_MAX_GPUS + 2),
    GPU_IDLE_TIMEOUT_SEC: '120',
    ...(cap !== null ? { GLOBAL_MAX_ACTIVE_GPUS: String(cap) } : {}),
  };
  const top = loadConfig(base);
  const configuration: Configuration = {
    file: null,
    top,
    pools: Array.from({ length: POOLS }, (_, i) => ({
      name: poolName(i),
      config: loadConfig({ ...base, PRIORITY: String(i % 4 === 0 ? 10 : 0), SIM_SEED: String(i + 1) }),
    })),
  };
  const plan: PoolsPlan = poolsPlan(configuration, () => 1);
  const projections = new ProjectionRunner(store, ALL_PROJECTIONS);
  const log = controlLog(logging);
  const start = clock.now().getTime();
  const systems: System[] = [];
  const providers: SimulatedProvider[] = [];
  try {
    for (const [i, p] of configuration.pools.entries()) {
      const cfg: Config = p.config;
      const provider = new SimulatedProvider({
        clock,
        startupMinSec: cfg.SIM_STARTUP_MIN_SEC,
        startupMaxSec: cfg.SIM_STARTUP_MAX_SEC,
        failureRate: 0,
        seed: i + 1,
      });
      providers.push(provider);
      systems.push(
        await buildSystem({
          store,
          pool: p.name,
          plan,
          projections,
          config: cfg,
          clock,
          log: poolLog(log, p.name),
          dbLogging: () => logging.dbStats(),
          logDestinations: () => logging.destinationStats(),
          provider,
          source: new WaveSource(clock, i, start),
          reactorWaitMs: 5_000,
        }),
      );
    }
    const result: PoolCycleResult = {
      variant: cap === null ? 'no global cap' : `GLOBAL_MAX_ACTIVE_GPUS=${cap}`,
      pools: POOLS,
      cycles: cycles - WARM_CYCLES,
      cycleMs: [],
      allPoolsMs: [],
      reactorsMs: [],
      projectionsMs: [],
      eventsPerPoolCycle: 0,
      logsPerPoolCycle: 0,
      eventBytesPerPoolCycle: 0,
      logBytesPerPoolCycle: 0,
      byType: {},
      liveWorkers: 0,
      liveGpusPeak: 0,
    };
    let before = { events: 0, logs: 0, eventBytes: 0, logBytes: 0 };
    const counts = async () => {
      await logging.flush();
      const [r] = await raw<{ events: number; logs: number; eventBytes: number; logBytes: number }[]>`
        select (select count(*) from events)::float8 as events, (select count(*) from system_logs)::float8 as logs,
               (select coalesce(sum(pg_column_size(e.*)), 0) from events e)::float8 as "eventBytes",
               (select coalesce(sum(pg_column_size(l.*)), 0) from system_logs l)::float8 as "logBytes"`;
      return r;
    };
    const typesBefore = new Map<string, number>();
    for (let c = 0; c < cycles; c++) {
      if (c === WARM_CYCLES) {
        before = await counts();
        for (const r of await raw<{ t: string; n: number }[]>`
          select event_type as t, count(*)::float8 as n from events group by 1`)
          typesBefore.set(r.t, r.n);
      }
      const measured = c >= WARM_CYCLES;
      const t0 = performance.now();
      // as the service does: side by side, a priority at a time (a lower priority decides knowing
      // what every higher one wants now)
      const each: number[] = [];
      for (const level of priorityLevels(systems, (s) => s.config.PRIORITY)) {
        each.push(
          ...(await Promise.all(
            level.map(async (s) => {
              const t = performance.now();
              await s.controller.runCycle();
              return performance.now() - t;
            }),
          )),
        );
      }
      const t1 = performance.now();
      await Promise.all(systems.map((s) => s.reactor.catchUp()));
      const t2 = performance.now();
      await projections.catchUp();
      const t3 = performance.now();
      if (measured) {
        result.cycleMs.push(...each);
        result.allPoolsMs.push(t1 - t0);
        result.reactorsMs.push(t2 - t1);
        result.projectionsMs.push(t3 - t2);
      }
      let gpus = 0;
      for (const p of providers) gpus += (await p.list()).length;
      result.liveGpusPeak = Math.max(result.liveGpusPeak, gpus);
      clock.advance(30_000);
    }
    const after = await counts();
    const n = POOLS * (cycles - WARM_CYCLES);
    result.eventsPerPoolCycle = (after.events - before.events) / n;
    result.logsPerPoolCycle = (after.logs - before.logs) / n;
    result.eventBytesPerPoolCycle = (after.eventBytes - before.eventBytes) / n;
    result.logBytesPerPoolCycle = (after.logBytes - before.logBytes) / n;
    for (const r of await raw<{ t: string; n: number }[]>`
      select event_type as t, count(*)::float8 as n from events group by 1 order by 2 desc`)
      result.byType[r.t] = (r.n - (typesBefore.get(r.t) ?? 0)) / n;
    for (const p of providers) result.liveWorkers += (await p.list()).length;
    return result;
  } finally {
    for (const s of systems) await s.reactor.stop()?.catch(() => {});
    await projections.stop()?.catch(() => {});
    await logging.close().catch(() => {});
    if (!o.keep && !process.env.BENCH_KEEP_SCHEMA)
      await raw.unsafe(`drop schema if exists "${schema}" cascade`).catch(() => {});
    await store.close().catch(() => {});
  }
}

/** Both variants: without a global cap, then with one at about half of what the pools want at their peaks. */
export async function poolsBench(url: string, benchSchema: string): Promise<PoolCycleResult[]> {
  const cap = poolsCap();
  const out: PoolCycleResult[] = [];
  for (const [suffix, c] of [
    ['nocap', null],
    ['cap', cap],
  ] as const) {
    process.stderr.write(`bench: ${POOLS} pools x ${POOL_CYCLES} cycles (${suffix}) ...`);
    const t0 = Date.now();
    out.push(await runPools({ url, schema: `${benchSchema}_pools_${suffix}`.slice(0, 63), cap: c }));
    process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  return out;
}

const fmt = (x: number) => x.toFixed(1);

export function printPoolResults(rows: PoolCycleResult[]): void {
  console.log(
    `\n${rows[0]?.pools ?? POOLS} pools, 30 s cycles (simulated time), one server, one process (10 connections); real ms, the first ${WARM_CYCLES} cycles not counted`,
  );
  console.log(
    '| variant | pool cycle p50 | p99 | max | all pools p50 | p99 | reactors p50 | projections p50 | events / pool-cycle | system_logs / pool-cycle | events / day | system_logs / day |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const day = CYCLES_PER_DAY * r.pools;
    console.log(
      `| ${r.variant} | ${fmt(percentile(r.cycleMs, 50))} | ${fmt(percentile(r.cycleMs, 99))} | ${fmt(Math.max(...r.cycleMs))} | ${fmt(percentile(r.allPoolsMs, 50))} | ${fmt(percentile(r.allPoolsMs, 99))} | ${fmt(percentile(r.reactorsMs, 50))} | ${fmt(percentile(r.projectionsMs, 50))} | ${r.eventsPerPoolCycle.toFixed(2)} | ${r.logsPerPoolCycle.toFixed(2)} | ${Math.round(r.eventsPerPoolCycle * day).toLocaleString('en')} | ${Math.round(r.logsPerPoolCycle * day).toLocaleString('en')} |`,
    );
  }
  for (const r of rows) {
    const types = Object.entries(r.byType)
      .filter(([, n]) => n > 0)
      .map(([t, n]) => `${t} ${n.toFixed(3)}`)
      .join(', ');
    console.log(
      `  ${r.variant}: row bytes per pool-cycle (pg_column_size, before indexes and page overhead): events ${Math.round(r.eventBytesPerPoolCycle)}, system_logs ${Math.round(r.logBytesPerPoolCycle)}; peak live workers ${r.liveGpusPeak}, at the end ${r.liveWorkers}`,
    );
    console.log(`    events per pool-cycle by type: ${types}`);
  }
}
