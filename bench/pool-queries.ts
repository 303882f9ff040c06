import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import postgres from 'postgres';
import { appRegistry } from '../events/index';
import { CliError, type CliIo } from '../src/cli/context';
import { eventsOptions, runEvents } from '../src/cli/events';
import { runExplain } from '../src/cli/explain';
import { runStatus } from '../src/cli/status';
import { rebuildProjections } from '../src/projections/rebuild';
import { openPostgresDb, postgresClient } from '../src/store/db-postgres';
import type { EventStore } from '../src/store/event-store';
import { storeOn } from '../src/store/index';
import type { StoreTarget } from '../src/store/open';
import { packageRoot } from '../src/util/package-root';
import { timeMs } from './measure';
import { POOLS, poolsCap, runPools } from './pools';
import { QUERY_TARGET_MS } from './queries';
import type { RawSql } from './raw-client';

/**
 * `pool-queries`: the CLI's reads on a record of BENCH_POOL_EVENTS events (default 10,000,000)
 * shaped like 100 pools' real record. The shape is real: BENCH_POOLS pools run TEMPLATE_CYCLES
 * cycles under a global GPU cap (bench/pools.ts, the product's own controllers writing), and that
 * record is then copied on the server, each copy later in time (cycles, event times, stream
 * versions, worker ids and event ids moved on, causation kept), until the store holds the target;
 * the last copy ends a minute before now, so `events --since 1h` of a spawned CLI finds the last
 * hour. The projections are rebuilt once (`gpu-scaler replay`'s rebuild, timed and printed). Each
 * read then runs in process (the command's function, output rendered and discarded; BENCH_ROUNDS
 * rounds, median) beside the one statement it needs most by hand, and as a spawned
 * `gpu-scaler` process, node start-up included. Its own database, dropped at the end.
 */
export const POOL_EVENTS = Number(process.env.BENCH_POOL_EVENTS ?? 10_000_000);
const TEMPLATE_CYCLES = Math.max(20, Number.parseInt(process.env.BENCH_POOL_TEMPLATE_CYCLES ?? '60', 10) || 60);
/** Copies per INSERT … SELECT (one transaction each). */
const COPIES_PER_CHUNK = 10;
/** Spawned CLI runs per read (median). */
const SPAWN_ROUNDS = 3;

function sinkIo(): CliIo {
  const sink = () =>
    new Writable({
      write(_chunk, _enc, done) {
        done();
      },
    });
  return { stdout: sink(), stderr: sink(), stdin: process.stdin, env: {}, isTTY: false };
}

export interface PoolQueryRow {
  name: string;
  raw: number[];
  ours: number[];
  /** The same read as a spawned gpu-scaler process (ms, start-up included). */
  spawned: number[];
}

export interface PoolQueryReport {
  events: number;
  pools: number;
  templateEvents: number;
  copies: number;
  fillMs: number;
  indexMs: number;
  replayMs: number;
  tableBytes: Record<string, number>;
  rows: PoolQueryRow[];
  /** A spawned `gpu-scaler --version` (node start-up and module loading alone). */
  startupMs: number[];
  plans: string[];
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : Number.NaN);

/** The same server, another database. */
function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/**
 * Copies k0..k1-1 of the template (schema tpl) into public.events. Copy k is the template moved
 * k * span seconds (plus `offset`) and k * cycles cycles on; streams other than workers' continue
 * their versions, each worker is a worker of its own (`<id>-<k>`), ids are md5(id:k) so a copy's
 * spawns name the copy's decision as their cause.
 */
function copySql(k0: number, k1: number, cycles: number, spanSec: number, offsetSec: number, last: number): string {
  const mapId = (x: string) => `md5(${x} || ':' || k)::uuid::text`;
  return `
  insert into public.events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
  select
    case when e.worker then e.stream_id || '-' || k else e.stream_id end,
    case when e.worker then e.stream_version else e.stream_version + k * e.maxv end,
    md5(e.event_id || ':' || k)::uuid,
    e.event_type, e.schema_version,
    e.data
      || case when e.t is not null then jsonb_build_object('at', to_char((e.t
           + (k * ${spanSec} + ${offsetSec}) * interval '1 second') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
         else '{}'::jsonb end
      || case when e.cyc is not null then jsonb_build_object('cycle', e.cyc + k * ${cycles}) else '{}'::jsonb end
      || case when e.wid is not null then jsonb_build_object('workerId', e.wid || '-' || k) else '{}'::jsonb end
      || case when e.dec is not null then jsonb_build_object('decisionEventId', ${mapId('e.dec')}) else '{}'::jsonb end,
    e.metadata
      || case when e.mcyc is not null then jsonb_build_object('cycle', e.mcyc + k * ${cycles}) else '{}'::jsonb end
      || case when e.cause is not null then jsonb_build_object('causationId', ${mapId('e.cause')}) else '{}'::jsonb end
      || case when e.corr is not null then jsonb_build_object('correlationId', ${mapId('e.corr')}) else '{}'::jsonb end
  from generate_series(${k0}, ${k1 - 1}) k
  cross join lateral (select * from tpl.src order by ord) e
  where not e.open or k = ${last}`;
}

/** The template's rows with what each copy changes worked out once (tpl.src, in position order). */
const SOURCE_SQL = `
  create table tpl.src as
  select row_number() over (order by e.global_position) as ord, e.stream_id like 'worker-%' as worker,
    e.stream_id, e.stream_version, m.maxv, e.event_id::text as event_id, e.event_type, e.schema_version,
    e.data, e.metadata,
    case when e.data ? 'at' then event_time(e.data, e.recorded_at) end as t,
    case when jsonb_typeof(e.data->'cycle') = 'number' then (e.data->>'cycle')::bigint end as cyc,
    e.data->>'workerId' as wid, e.data->>'decisionEventId' as dec,
    case when jsonb_typeof(e.metadata->'cycle') = 'number' then (e.metadata->>'cycle')::bigint end as mcyc,
    e.metadata->>'causationId' as cause, e.metadata->>'correlationId' as corr,
    -- a worker the template leaves running: in the last copy only (else every copy would add a
    -- live worker the status lists: 348 a pool instead of a handful)
    e.stream_id like 'worker-%' and not exists (select 1 from tpl.events x where x.stream_id = e.stream_id
      and x.event_type in ('WorkerTerminated', 'WorkerSpawnFailed')) as open
  from tpl.events e
  join (select stream_id, max(stream_version) as maxv from tpl.events group by 1) m using (stream_id)
  order by e.global_position`;

/** Fills public.events from the template up to `total` events; returns timings and the copies made. */
async function fill(
  sql: RawSql,
  total: number,
): Promise<{ templateEvents: number; copies: number; fillMs: number; indexMs: number }> {
  const [{ n, first, last }] = await sql<{ n: number; first: Date; last: Date }[]>`
    select count(*)::int as n, min(event_time(data, recorded_at)) as first, max(event_time(data, recorded_at)) as last
      from tpl.events`;
  void first;
  const indexes = await sql<{ name: string; def: string }[]>`
    select i.relname as name, pg_get_indexdef(x.indexrelid) as def
      from pg_index x join pg_class i on i.oid = x.indexrelid
     where x.indrelid = 'public.events'::regclass
       and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)`;
  for (const ix of indexes) await sql.unsafe(`drop index public."${ix.name}"`);
  await sql.unsafe('drop table if exists tpl.src');
  await sql.unsafe(SOURCE_SQL);
  await sql.unsafe('create index on tpl.src (ord)');
  await sql.unsafe('analyze tpl.src');
  // the events of workers the template leaves running are copied once (in the last copy), so each
  // other copy is that many events short of the template: counted, the store reaches `total`
  const [{ open }] = await sql<{ open: number }[]>`select count(*) filter (where open)::int as open from tpl.src`;
  const copies = Math.max(1, Math.ceil((total - open) / Math.max(1, n - open)));
  const spanSec = TEMPLATE_CYCLES * 30;
  // the last copy's last event a minute before now
  const offsetSec = Math.floor((Date.now() - 60_000 - new Date(last).getTime()) / 1000 - (copies - 1) * spanSec);
  const t0 = Date.now();
  let indexMs = 0;
  try {
    for (let k = 0; k < copies; k += COPIES_PER_CHUNK) {
      await sql.begin(async (tx) => {
        await tx.unsafe("set local work_mem = '128MB'");
        await tx.unsafe(
          copySql(k, Math.min(copies, k + COPIES_PER_CHUNK), TEMPLATE_CYCLES, spanSec, offsetSec, copies - 1),
        );
      });
      process.stderr.write('.');
    }
  } finally {
    const t1 = Date.now();
    for (const ix of indexes) await sql.unsafe(ix.def);
    await sql`vacuum (analyze) public.events`;
    indexMs = Date.now() - t1;
  }
  return { templateEvents: n, copies, fillMs: Date.now() - t0 - indexMs, indexMs };
}

export async function poolQueryBench(url: string, benchSchema: string, rounds: number): Promise<PoolQueryReport> {
  // BENCH_POOL_DB: a database a run before left (BENCH_KEEP_SCHEMA) with its template (schema tpl)
  const reuse = process.env.BENCH_POOL_DB?.trim();
  // BENCH_POOL_MEASURE_ONLY=1 (with BENCH_POOL_DB): that database's store as it is, filled and
  // replayed by a run before; only the reads are measured (after a change to them)
  const measureOnly = !!reuse && process.env.BENCH_POOL_MEASURE_ONLY === '1';
  const dbName = reuse || `${benchSchema}_pq`.slice(0, 63);
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  if (!reuse) await admin.unsafe(`create database "${dbName}"`);
  const dbUrl = withDatabase(url, dbName);
  try {
    if (measureOnly) {
      // nothing to make
    } else if (reuse) {
      const fresh = postgres(dbUrl, { max: 1, onnotice: () => {} });
      await fresh.unsafe('drop schema if exists public cascade; create schema public');
      await fresh.end({ timeout: 5 });
    } else {
      process.stderr.write(`bench: ${POOLS} pools x ${TEMPLATE_CYCLES} cycles as the template ...`);
      await runPools({ url: dbUrl, schema: 'tpl', cap: poolsCap(), cycles: TEMPLATE_CYCLES, keep: true });
    }
    const client = postgresClient({ url: dbUrl, schema: 'public', max: 4, applicationName: 'gpu-scaler-bench-pq' });
    const raw = client as unknown as RawSql;
    const db = await openPostgresDb({ url: dbUrl, schema: 'public', client });
    const store: EventStore = await storeOn(db, appRegistry, false);
    try {
      let filled = { templateEvents: 0, copies: 0, fillMs: 0, indexMs: 0 };
      let replayMs = 0;
      if (!measureOnly) {
        process.stderr.write(` filling ${POOL_EVENTS.toLocaleString('en')} events `);
        filled = await fill(raw, POOL_EVENTS);
        if (!process.env.BENCH_KEEP_SCHEMA) await raw.unsafe('drop schema tpl cascade');
        process.stderr.write(
          ` (${(filled.fillMs / 1000).toFixed(0)} s, indexes ${(filled.indexMs / 1000).toFixed(0)} s)`,
        );
        const t0 = Date.now();
        await rebuildProjections(store, { batchSize: 5_000 });
        replayMs = Date.now() - t0;
      }
      process.stderr.write(` (projections rebuilt in ${(replayMs / 1000).toFixed(0)} s)\n`);
      await raw`vacuum (analyze)`;
      const report: PoolQueryReport = {
        events: 0,
        pools: POOLS,
        ...filled,
        replayMs,
        tableBytes: {},
        rows: [],
        startupMs: [],
        plans: [],
      };
      const [{ n }] = await raw<{ n: number }[]>`select count(*)::float8 as n from events`;
      report.events = n;
      for (const r of await raw<{ t: string; b: number }[]>`
        select c.relname as t, pg_total_relation_size(c.oid)::float8 as b from pg_class c
          join pg_namespace s on s.oid = c.relnamespace
         where s.nspname = 'public' and c.relkind = 'r' order by 2 desc limit 8`)
        report.tableBytes[r.t] = r.b;
      await measureReads(store, raw, dbUrl, rounds, report);
      return report;
    } finally {
      await store.close().catch(() => {});
    }
  } finally {
    if (!process.env.BENCH_KEEP_SCHEMA) await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
    await admin.end({ timeout: 5 });
  }
}

async function measureReads(
  store: EventStore,
  raw: RawSql,
  dbUrl: string,
  rounds: number,
  report: PoolQueryReport,
): Promise<void> {
  const target: StoreTarget = { kind: 'postgres', url: dbUrl };
  const io = sinkIo();
  const [{ last }] = await raw<{ last: Date }[]>`select max(event_time(data, recorded_at)) as last from events`;
  const pool = 'p050';
  const [{ cycle }] = await raw<{ cycle: number }[]>`
    select (max(event_cycle(data)) / 2)::int as cycle from events where stream_id = ${`controller@${pool}`}`;
  const now = new Date();
  const since = new Date(now.getTime() - 3_600_000);
  const run = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
    }
  };
  void last;
  const bin = path.join(packageRoot(), 'bin', 'gpu-scaler.js');
  const cases: { name: string; ours: () => Promise<unknown>; raw: () => Promise<unknown>; argv: string[] }[] = [
    {
      name: 'status',
      ours: () =>
        run(() => runStatus(store, target, { json: false, utc: true, now, windowMs: 3_600_000, windowText: '1h' }, io)),
      raw: () => raw`select * from scaling_decisions order by global_position desc limit 1`,
      argv: ['status', '--utc'],
    },
    {
      name: `status --pool ${pool}`,
      ours: () =>
        run(() =>
          runStatus(
            store,
            target,
            { json: false, utc: true, now, windowMs: 3_600_000, windowText: '1h', pools: [pool] },
            io,
          ),
        ),
      raw: () => raw`select * from scaling_decisions where pool = ${pool} order by cycle desc limit 1`,
      argv: ['status', '--utc', '--pool', pool],
    },
    {
      name: 'events --since 1h',
      ours: () => run(() => runEvents(store, target, eventsOptions({ since: '1h' }, now), io)),
      // by hand as it must be written: the time index first (the plain `where time >= … order by
      // position limit 101` reads the table from the start: seconds to minutes)
      raw: () => raw`with hits as materialized (select global_position from events
          where event_time(data, recorded_at) >= ${since.toISOString()}::timestamptz)
        select * from events where global_position in (select global_position from hits order by 1 limit 101)
          order by global_position`,
      argv: ['events', '--since', '1h', '--utc'],
    },
    {
      name: `events --since 1h --pool ${pool}`,
      ours: () => run(() => runEvents(store, target, eventsOptions({ since: '1h', pool: [pool] }, now), io)),
      raw: () => raw`with hits as materialized (select global_position from events
          where event_time(data, recorded_at) >= ${since.toISOString()}::timestamptz
            and coalesce(data->>'pool', 'default') in (${pool}, '*'))
        select * from events where global_position in (select global_position from hits order by 1 limit 101)
          order by global_position`,
      argv: ['events', '--since', '1h', '--utc', '--pool', pool],
    },
    {
      name: `explain --cycle ${cycle}`,
      ours: () => run(() => runExplain(store, io, { cycle: String(cycle), window: '2m', utc: true })),
      raw: () => raw`select * from events where event_cycle(data) = ${cycle} and stream_id like 'controller%'`,
      argv: ['explain', '--cycle', String(cycle), '--utc'],
    },
    {
      name: `explain --cycle ${cycle} --pool ${pool}`,
      ours: () => run(() => runExplain(store, io, { cycle: String(cycle), window: '2m', utc: true, pool: [pool] })),
      raw: () => raw`select * from events where stream_id = ${`controller@${pool}`} and event_cycle(data) = ${cycle}`,
      argv: ['explain', '--cycle', String(cycle), '--utc', '--pool', pool],
    },
  ];
  const env = { ...process.env, DATABASE_URL: dbUrl, GPU_SCALER_CONFIG: '' };
  const spawn = (argv: string[]) =>
    timeMs(async () => {
      try {
        execFileSync(process.execPath, [bin, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (err) {
        const e = err as { status?: number; stderr?: Buffer };
        // exit 3 (nothing found) is an answer too; anything else is a broken read
        if (e.status !== 3) throw new Error(`gpu-scaler ${argv.join(' ')}: ${e.stderr?.toString() ?? err}`);
      }
    });
  for (let i = 0; i < SPAWN_ROUNDS; i++) report.startupMs.push(await spawn(['--version']));
  for (const c of cases) {
    process.stderr.write(`bench: ${c.name} ...`);
    await c.raw();
    await c.ours();
    const row: PoolQueryRow = { name: c.name, raw: [], ours: [], spawned: [] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (['raw', 'ours'] as const) : (['ours', 'raw'] as const);
      for (const side of order) row[side].push(await timeMs(c[side]));
    }
    for (let i = 0; i < SPAWN_ROUNDS; i++) row.spawned.push(await spawn(c.argv));
    report.rows.push(row);
    process.stderr.write(` ${median(row.ours).toFixed(0)} ms\n`);
  }
}

const gb = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GB`;

export function printPoolQueries(r: PoolQueryReport): void {
  console.log(
    `\nCLI reads on ${r.events.toLocaleString('en')} events of ${r.pools} pools (the record of ${r.pools} pools x ${TEMPLATE_CYCLES} cycles under a global cap, ${r.templateEvents.toLocaleString('en')} events, copied ${r.copies} times later in time; filled in ${(r.fillMs / 1000).toFixed(0)} s, indexes ${(r.indexMs / 1000).toFixed(0)} s, projections rebuilt in ${(r.replayMs / 1000).toFixed(0)} s)`,
  );
  console.log(
    `tables: ${Object.entries(r.tableBytes)
      .map(([t, b]) => `${t} ${gb(b)}`)
      .join(', ')} (with indexes and TOAST)`,
  );
  console.log(
    `median ms; in process: the command's function, output rendered and discarded; spawned: a gpu-scaler process, node start-up included (\`gpu-scaler --version\` alone: ${median(r.startupMs).toFixed(0)} ms); target < ${QUERY_TARGET_MS} ms each`,
  );
  console.log('| read | raw SQL | in process | spawned CLI | target (in process) |');
  console.log('| --- | ---: | ---: | ---: | --- |');
  for (const row of r.rows) {
    const ours = median(row.ours);
    console.log(
      `| ${row.name} | ${median(row.raw).toFixed(1)} | ${ours.toFixed(1)} | ${median(row.spawned).toFixed(0)} | ${ours < QUERY_TARGET_MS ? 'met' : 'MISSED'} |`,
    );
  }
  for (const p of r.plans) console.log(p);
}
