import { appRegistry } from '../events/index';
import { ALL_PROJECTIONS } from '../projections/index';
import { emptyProfile, eventTypesOf, type RebuildProfile, rebuildProjections } from '../src/projections/rebuild';
import { openPostgresDb, postgresClient } from '../src/store/db-postgres';
import type { EventStore } from '../src/store/event-store';
import { storeOn } from '../src/store/index';
import type { RawSql } from './raw-client';

/** Events the replay workload rebuilds from (BENCH_REPLAY_EVENTS, default 1,000,000). */
export const REPLAY_EVENTS = Number(process.env.BENCH_REPLAY_EVENTS ?? 1_000_000);
/** Rows per cursor fetch on the raw side, events per batch on ours. */
export const REPLAY_BATCH = 5_000;
export const REPLAY_RSS_TARGET_MB = 200;
/** Cycles generated per INSERT … SELECT (one transaction each, so tx_ids vary as in real life). */
const CYCLES_PER_CHUNK = 5_000;

/**
 * The controller's record, generated on the server (filling is not what is measured), shaped like
 * what `gpu-scaler start` writes and valid against events/*.ts:
 * - every cycle (30 s apart): TaskCountObserved + ScalingDecided on the controller stream;
 * - every 50th cycle an AnomalyDetected; every 10th a HealthChecked, every 20th a
 *   HealthSummaryRecorded on the health stream;
 * - every 8th cycle a worker: WorkerSpawnRequested + WorkerSpawned, WorkerActivated a cycle later,
 *   WorkerTerminationRequested + WorkerTerminated 40 cycles later (idle).
 * About 2.8 events a cycle; stream versions are computed so each stream counts 1, 2, 3, …
 */
function generateSql(fromCycle: number, toCycle: number, limit: number): string {
  const at = (c: string) =>
    `to_char((timestamptz '2026-01-01 00:00:00+00' + (${c}) * interval '30 seconds') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  // Events before cycle c on the controller stream: 2 a cycle plus one anomaly every 50.
  const ctl = `(2 * (c - 1) + (c - 1) / 50)`;
  const health = `((c - 1) / 10 + (c - 1) / 20)`;
  // ScalingDecided at schema version 2: the policy with its own settings and terms, the caps' settings apart
  const settings = `jsonb_build_object('MAX_WORKERS', 20, 'MAX_ACTIVE_GPUS', 20, 'GPU_IDLE_TIMEOUT_SEC', 300,
      'SPAWNING_TIMEOUT_SEC', 600)`;
  const policy = `jsonb_build_object('name', 'operators',
      'settings', jsonb_build_object('TASKS_PER_GPU', 1, 'MIN_ACTIVE_GPUS', 0, 'MACHINES_TO_KEEP_IDLE', 0),
      'terms', jsonb_build_array(
        jsonb_build_object('name', 'minActive', 'value', 0, 'formula', 'MIN_ACTIVE_GPUS=0'),
        jsonb_build_object('name', 'byTasks', 'value', c % 7 + c % 5, 'formula', 'ceil(' || (c % 7 + c % 5) || ' / TASKS_PER_GPU=1)'),
        jsonb_build_object('name', 'busyPlusIdle', 'value', c % 5, 'formula', 'busy ' || (c % 5) || ' + MACHINES_TO_KEEP_IDLE=0')),
      'combine', 'max(minActive, byTasks, busyPlusIdle)')`;
  return `
  insert into events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
  select stream_id, stream_version, gen_random_uuid(), event_type,
    case when event_type = 'ScalingDecided' then 2 else 1 end, data, jsonb_build_object('cycle', c)
  from (
    select c, 0 as seq, 'controller' as stream_id, ${ctl} + 1 as stream_version, 'TaskCountObserved' as event_type,
      jsonb_build_object('cycle', c, 'at', ${at('c')}, 'source', 'edge-function', 'queued', c % 7,
        'active', c % 5, 'total', c % 7 + c % 5, 'responseMs', 40 + c % 30, 'workers', null) as data
      from generate_series(${fromCycle}, ${toCycle - 1}) c
    union all
    select c, 1, 'controller', ${ctl} + 2, 'ScalingDecided',
      jsonb_build_object('cycle', c, 'at', ${at('c')}, 'queued', c % 7, 'active', c % 5, 'total', c % 7 + c % 5,
        'current', jsonb_build_object('active', 5, 'spawning', case when c % 8 = 0 then 1 else 0 end, 'total', 5),
        'busy', c % 5, 'idle', 5 - c % 5,
        'policy', ${policy},
        'desiredBeforeCaps', c % 7 + c % 5, 'requested', c % 7 + c % 5,
        'limits', case when c % 3 = 0 then jsonb_build_array(jsonb_build_object('name', 'MAX_ACTIVE_GPUS',
          'value', 20, 'from', 24, 'to', 20)) else '[]'::jsonb end,
        'desired', 5, 'decision', case when c % 8 = 0 then 'SCALE_UP' else 'MAINTAIN' end,
        'delta', case when c % 8 = 0 then 1 else 0 end,
        'terminate', case when c > 40 and (c - 40) % 8 = 0 then jsonb_build_array(jsonb_build_object(
          'workerId', 'w' || (c - 40), 'podId', 'pod-' || (c - 40), 'idleSec', 300, 'reason', 'idle')) else '[]'::jsonb end,
        'timedOut', '[]'::jsonb,
        'reasons', jsonb_build_array('desired ' || (c % 7 + c % 5) || ' vs current 5', 'settings: default policy'),
        'settings', ${settings})
      from generate_series(${fromCycle}, ${toCycle - 1}) c
    union all
    select c, 2, 'controller', ${ctl} + 3, 'AnomalyDetected',
      jsonb_build_object('cycle', c, 'at', ${at('c')}, 'kind', 'task_count_spike',
        'message', 'Task count jumped from 2 to 51 in one cycle', 'figures', jsonb_build_object('from', 2, 'to', 51),
        'causes', jsonb_build_array('a real burst of tasks', 'the task source over-reporting'))
      from generate_series(${fromCycle}, ${toCycle - 1}) c where c % 50 = 0
    union all
    select c, 3, 'worker-w' || c, 1, 'WorkerSpawnRequested',
      jsonb_build_object('workerId', 'w' || c, 'at', ${at('c')}, 'cycle', c, 'decisionEventId', 'decision-' || c,
        'ordinal', 1, 'of', 1, 'idempotencyKey', 'w' || c, 'provider', 'simulated')
      from generate_series(${fromCycle}, ${toCycle - 1}) c where c % 8 = 0
    union all
    select c, 4, 'worker-w' || c, 2, 'WorkerSpawned',
      jsonb_build_object('workerId', 'w' || c, 'at', ${at('c')}, 'podId', 'pod-' || c, 'ordinal', 1, 'of', 1,
        'recovered', false, 'details', '{}'::jsonb)
      from generate_series(${fromCycle}, ${toCycle - 1}) c where c % 8 = 0
    union all
    select c, 5, 'worker-w' || (c - 1), 3, 'WorkerActivated',
      jsonb_build_object('workerId', 'w' || (c - 1), 'at', ${at('c')}, 'podId', 'pod-' || (c - 1))
      from generate_series(${fromCycle}, ${toCycle - 1}) c where c > 1 and (c - 1) % 8 = 0
    union all
    select c, 6, 'worker-w' || (c - 40), 4, 'WorkerTerminationRequested',
      jsonb_build_object('workerId', 'w' || (c - 40), 'at', ${at('c')}, 'cycle', c, 'podId', 'pod-' || (c - 40),
        'reason', 'idle', 'detail', 'idle 300s >= GPU_IDLE_TIMEOUT_SEC=300')
      from generate_series(${fromCycle}, ${toCycle - 1}) c where c > 40 and (c - 40) % 8 = 0
    union all
    select c, 7, 'worker-w' || (c - 40), 5, 'WorkerTerminated',
      jsonb_build_object('workerId', 'w' || (c - 40), 'at', ${at('c')}, 'podId', 'pod-' || (c - 40),
        'reason', 'idle', 'detail', 'idle 300s >= GPU_IDLE_TIMEOUT_SEC=300', 'failed', false, 'exitCode', 0,
        'gpuSeconds', 1230)
      from generate_series(${fromCycle}, ${toCycle - 1}) c where c > 40 and (c - 40) % 8 = 0
    union all
    select c, 8, 'health', ${health} + 1, 'HealthChecked',
      jsonb_build_object('cycle', c, 'at', ${at('c')}, 'status', 'healthy', 'dbLogging', jsonb_build_object(
        'enabled', true, 'healthy', true, 'initError', null, 'sent', c * 9, 'failed', 0, 'dropped', 0,
        'queueSize', 0, 'errorRate', 0), 'problems', '[]'::jsonb)
      from generate_series(${fromCycle}, ${toCycle - 1}) c where c % 10 = 0
    union all
    select c, 9, 'health', ${health} + 2, 'HealthSummaryRecorded',
      jsonb_build_object('cycle', c, 'at', ${at('c')}, 'dbLoggingHealthy', true,
        'lastTaskCount', jsonb_build_object('queued', c % 7, 'active', c % 5, 'total', c % 7 + c % 5),
        'lastWorkerCount', 5, 'workersByStatus', jsonb_build_object('active', 5, 'terminated', greatest(c / 8 - 5, 0)),
        'anomaliesSinceLast', case when c % 50 < 20 then 1 else 0 end, 'anomalyKinds', '{}'::jsonb)
      from generate_series(${fromCycle}, ${toCycle - 1}) c where c % 20 = 0
  ) e
  order by c, seq
  limit ${limit}`;
}

/** Fills the replay schema's events table up to `total` events; returns how long it took (ms). */
export async function fillReplayEvents(sql: RawSql, total: number): Promise<number> {
  const t0 = Date.now();
  let [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from events`;
  let cycle = 1;
  if (n > 0) {
    const [{ c }] = await sql<{ c: number }[]>`select coalesce(max((data->>'cycle')::int), 0) as c from events
      where event_type = 'ScalingDecided'`;
    cycle = c + 41; // workers of earlier cycles never collide with new ones
    if (n >= total) return 0;
  }
  // The plain indexes (not those behind constraints) are dropped while filling and made again
  // from their own definitions after: building an index once is much cheaper than growing it.
  const indexes = await sql<{ name: string; def: string }[]>`
    select i.relname as name, pg_get_indexdef(x.indexrelid) as def
      from pg_index x join pg_class i on i.oid = x.indexrelid
     where x.indrelid = 'events'::regclass
       and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)`;
  for (const ix of indexes) await sql.unsafe(`drop index "${ix.name}"`);
  try {
    while (n < total) {
      await sql.unsafe(generateSql(cycle, cycle + CYCLES_PER_CHUNK, total - n));
      cycle += CYCLES_PER_CHUNK;
      [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from events`;
    }
  } finally {
    for (const ix of indexes) await sql.unsafe(ix.def);
  }
  await sql`vacuum (analyze) events`;
  return Date.now() - t0;
}

/** What each projection table must hold after a full rebuild, counted from the events in SQL. */
async function expectedRows(sql: RawSql): Promise<Record<string, number>> {
  const types = eventTypesOf(ALL_PROJECTIONS);
  const [r] = await sql<Record<string, number>[]>`
    select count(*) filter (where event_type = any(${types}))::int as folded,
           coalesce(max(global_position), 0)::int as head,
           count(distinct data->>'workerId') filter (where event_type like 'Worker%')::int as workers,
           count(distinct data->>'cycle') filter (where event_type = 'ScalingDecided')::int as scaling_decisions,
           count(*) filter (where event_type = 'AnomalyDetected')::int as anomalies,
           count(distinct data->>'cycle') filter (where event_type = 'HealthSummaryRecorded')::int as health_summaries
      from events`;
  return r;
}

/** One line: wall time, this process's CPU time, and the engine's per-step sums. */
function describeProfile(seconds: number, cpu: NodeJS.CpuUsage, p: RebuildProfile, events: number): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return (
    `${seconds.toFixed(1)} s wall, ${events.toLocaleString('en')} events read, node CPU ${s((cpu.user + cpu.system) / 1000)}: read+parse ${s(p.readMs)}, ` +
    `zod decode ${s(p.decodeMs)}, fold ${s(p.foldMs)}, read back ${s(p.loadMs)}, JSON.stringify ${s(p.stringifyMs)}, ` +
    `writes ${s(p.writeMs)} (one transaction a batch), swap ${s(p.swapMs)}; ` +
    `waited for reads ${s(p.waitReadMs)} (folds run meanwhile), for writes ${s(p.waitWriteMs)}`
  );
}

/** The same columns the store selects (event-store.ts COLUMNS), in plain global order. */
const rawRead = (sql: RawSql) =>
  sql`select global_position, stream_id, stream_version, event_id::text as event_id, event_type, schema_version,
        data, metadata, tx_id::text as tx_id, recorded_at
      from events order by global_position`;

export type ReplaySide = 'raw' | 'ours';

/**
 * `replay`: rebuild every projection from REPLAY_EVENTS events (full rebuild, side tables, swap:
 * what `gpu-scaler replay` does) against a raw cursor read of the same rows with porsager's
 * `postgres` (`.cursor(REPLAY_BATCH)`), in its own schema. Both sides run on one pool of
 * connections (the same server processes). The bench fills the schema once, then measures each
 * run in a process of its own (see run.ts), which opens the filled schema again.
 */
export class ReplayBench {
  readonly problems: string[] = [];
  /** Where the time of each of our runs went. */
  readonly profiles: string[] = [];
  private store?: EventStore;
  private raw?: RawSql;
  private expected: Record<string, number> = {};

  constructor(
    readonly url: string,
    readonly schema: string,
  ) {}

  static schemaFor(benchSchema: string): string {
    return `${benchSchema}_replay`.slice(0, 63);
  }

  /** Connects (creating and filling the schema when `fill`); returns how long filling took (ms). */
  async open(fill: boolean): Promise<number> {
    const client = postgresClient({
      url: this.url,
      schema: this.schema,
      max: 8,
      applicationName: 'gpu-scaler-bench-replay',
    });
    this.raw = client as unknown as RawSql;
    if (fill) await this.raw.unsafe(`create schema if not exists "${this.schema}"`);
    const db = await openPostgresDb({ url: this.url, schema: this.schema, client });
    this.store = await storeOn(db, appRegistry, false);
    const ms = fill ? await fillReplayEvents(this.raw, REPLAY_EVENTS) : 0;
    this.expected = await expectedRows(this.raw);
    return ms;
  }

  /** Closes the pool; drops the schema when `drop`. */
  async close(drop: boolean): Promise<void> {
    if (drop && this.raw) await this.raw.unsafe(`drop schema if exists "${this.schema}" cascade`).catch(() => {});
    await this.store?.close().catch(() => {}); // ends the shared pool
    this.store = undefined;
    this.raw = undefined;
  }

  /**
   * Leaves the server as the next run should find it: the tables a rebuild swapped in vacuumed and
   * analyzed now (otherwise autovacuum does it during the next run, which then competes with it
   * for the CPU and whose swap waits for it), and the WAL of the run checkpointed (a checkpoint
   * falling inside one run and not another would tell runs apart, not sides). Not timed.
   */
  async settle(): Promise<void> {
    const tables = ALL_PROJECTIONS.map((p) => `"${this.schema}"."${p.table}"`).join(', ');
    await this.raw!.unsafe(`vacuum (analyze) ${tables}`);
    await this.raw!.unsafe('checkpoint').catch(() => {}); // needs pg_checkpoint: skipped without it
  }

  private problem(p: string): void {
    if (!this.problems.includes(p)) this.problems.push(p);
  }

  /** A short unmeasured run: prepares statements, warms the JIT. */
  async warm(side: ReplaySide): Promise<void> {
    if (side === 'raw') {
      let seen = 0;
      for await (const rows of rawRead(this.raw!).cursor(REPLAY_BATCH)) {
        seen += rows.length;
        if (seen >= 5 * REPLAY_BATCH) break;
      }
      return;
    }
    // An as-of build of the first few batches.
    const into = `${this.schema}_warm`.slice(0, 63);
    await rebuildProjections(this.store!, {
      until: { kind: 'position', position: 5 * REPLAY_BATCH },
      into,
      batchSize: REPLAY_BATCH,
    });
    await this.raw!.unsafe(`drop schema if exists "${into}" cascade`);
  }

  /** The measured run; returns the number of events it covered. */
  async run(side: ReplaySide, probe: () => void): Promise<number> {
    if (side === 'raw') {
      let count = 0;
      for await (const rows of rawRead(this.raw!).cursor(REPLAY_BATCH)) {
        count += rows.length;
        probe();
      }
      if (count !== REPLAY_EVENTS) this.problem(`raw read ${count} of ${REPLAY_EVENTS} events`);
      return count;
    }
    const profile = emptyProfile();
    const cpu0 = process.cpuUsage();
    const res = await rebuildProjections(this.store!, { batchSize: REPLAY_BATCH, profile, onProgress: probe });
    probe();
    this.profiles.push(describeProfile(res.seconds, process.cpuUsage(cpu0), profile, res.events));
    if (res.events !== this.expected.folded) {
      this.problem(`ours read ${res.events} events of the projections' types, expected ${this.expected.folded}`);
    }
    if (res.lastPosition !== this.expected.head) {
      this.problem(`ours got to position ${res.lastPosition}, expected ${this.expected.head}`);
    }
    for (const t of res.tables) {
      if (t.rows !== this.expected[t.table]) {
        this.problem(`${t.table}: ${t.rows} rows, expected ${this.expected[t.table]}`);
      }
    }
    // The rebuild covered every event in the store (it skipped the types no projection folds).
    return REPLAY_EVENTS;
  }
}
