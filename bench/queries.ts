import { Writable } from 'node:stream';
import { appRegistry } from '../events/index';
import { CliError, type CliIo } from '../src/cli/context';
import { eventsOptions, runEvents } from '../src/cli/events';
import { runExplain } from '../src/cli/explain';
import { runStatus } from '../src/cli/status';
import { openPostgresDb, postgresClient } from '../src/store/db-postgres';
import type { EventStore } from '../src/store/event-store';
import { storeOn } from '../src/store/index';
import type { StoreTarget } from '../src/store/open';
import { observationsBetween, spawnOutcomesBetween } from '../src/store/queries';
import { timeMs } from './measure';
import type { RawSql } from './raw-client';
import { fillReplayEvents, REPLAY_EVENTS } from './replay-workload';

/** What each query should take at most on the 1M-event store (seconds). */
export const QUERY_TARGET_MS = 300;

/** Output thrown away: what is measured is the query and its rendering, not a terminal. */
function sinkIo(): CliIo {
  const sink = () =>
    new Writable({
      write(_chunk, _enc, done) {
        done();
      },
    });
  return { stdout: sink(), stderr: sink(), stdin: process.stdin, env: {}, isTTY: false };
}

export interface QueryTiming {
  name: string;
  /** The raw SQL the command boils down to, run by hand through the same pool. */
  raw: number[];
  ours: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * `queries`: the CLI's reads on a store of REPLAY_EVENTS events (the replay's generator): `events
 * --since 1h`, `events --type AnomalyDetected`, `status`, `explain --cycle N`, each as the command
 * runs it, and the two reads every control cycle makes (the policy's lookback, the spawn guard) (output rendered and discarded), beside the one statement it needs most, by hand. Times
 * are relative to the last event (the generated record is in the past).
 */
export async function queryBench(url: string, benchSchema: string, rounds: number): Promise<QueryTiming[]> {
  const schema = `${benchSchema}_queries`.slice(0, 63);
  const client = postgresClient({ url, schema, max: 4, applicationName: 'gpu-scaler-bench-queries' });
  const raw = client as unknown as RawSql;
  await raw.unsafe(`create schema if not exists "${schema}"`);
  const db = await openPostgresDb({ url, schema, client });
  const store: EventStore = await storeOn(db, appRegistry, false);
  const target: StoreTarget = { kind: 'postgres', url };
  const io = sinkIo();
  try {
    const fillMs = await fillReplayEvents(raw, REPLAY_EVENTS);
    process.stderr.write(` (filled in ${(fillMs / 1000).toFixed(1)} s)`);
    const [{ last, cycle }] = await raw<{ last: string; cycle: number }[]>`
      select max(data->>'at') as last, max((data->>'cycle')::int) / 2 as cycle from events
       where stream_id = 'controller'`;
    const lastAt = new Date(last);
    const since = new Date(lastAt.getTime() - 3_600_000).toISOString();
    const run = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
      }
    };
    // what every cycle asks: the policy's lookback and the spawn guard's window (300 s each)
    const windowStart = new Date(lastAt.getTime() - 300_000).toISOString();
    const cases: { name: string; ours: () => Promise<unknown>; raw: () => Promise<unknown> }[] = [
      {
        name: 'cycle: policy lookback 300 s',
        ours: () => observationsBetween(db, windowStart, last),
        raw: () => raw`select data from events where event_time(data, recorded_at) >= ${windowStart}::timestamptz
            and event_time(data, recorded_at) < ${last}::timestamptz and event_type = 'TaskCountObserved'`,
      },
      {
        name: 'cycle: spawn guard 300 s',
        ours: () => spawnOutcomesBetween(db, windowStart, last),
        raw: () => raw`select data from events where event_time(data, recorded_at) >= ${windowStart}::timestamptz
            and event_time(data, recorded_at) < ${last}::timestamptz
            and event_type in ('WorkerSpawned', 'WorkerSpawnFailed')`,
      },
      {
        name: 'events --since 1h',
        ours: () => run(() => runEvents(store, target, eventsOptions({ since: since }, lastAt), io)),
        raw: () => raw`select * from events where event_time(data, recorded_at) >= ${since}::timestamptz
            order by global_position limit 101`,
      },
      {
        name: 'events --type AnomalyDetected',
        ours: () => run(() => runEvents(store, target, eventsOptions({ type: 'AnomalyDetected' }, lastAt), io)),
        raw: () =>
          raw`select * from events where event_type = 'AnomalyDetected' order by global_position desc limit 101`,
      },
      {
        name: 'events --type ScalingDecided',
        ours: () => run(() => runEvents(store, target, eventsOptions({ type: 'ScalingDecided' }, lastAt), io)),
        raw: () =>
          raw`select * from events where event_type = 'ScalingDecided' order by global_position desc limit 101`,
      },
      {
        name: 'status',
        ours: () =>
          run(() =>
            runStatus(
              store,
              target,
              { json: false, utc: true, now: lastAt, windowMs: 3_600_000, windowText: '1h' },
              io,
            ),
          ),
        raw: () => raw`select * from events order by global_position desc limit 1`,
      },
      {
        name: `explain --cycle ${cycle}`,
        ours: () => run(() => runExplain(store, io, { cycle: String(cycle), window: '2m', utc: true })),
        raw: () => raw`select * from events where stream_id = 'controller' and stream_version between
            ${2 * (cycle - 1) + Math.floor((cycle - 1) / 50) + 1} and ${2 * (cycle - 1) + Math.floor((cycle - 1) / 50) + 3}`,
      },
    ];
    // status brings the projections up to date first: done once here, not measured.
    await cases.find((c) => c.name === 'status')?.ours();
    const out: QueryTiming[] = [];
    for (const c of cases) {
      await c.raw();
      await c.ours();
      const t: QueryTiming = { name: c.name, raw: [], ours: [] };
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 === 0 ? (['raw', 'ours'] as const) : (['ours', 'raw'] as const);
        for (const side of order) t[side].push(await timeMs(c[side]));
      }
      out.push(t);
    }
    return out;
  } finally {
    if (!process.env.BENCH_KEEP_SCHEMA) await raw.unsafe(`drop schema if exists "${schema}" cascade`).catch(() => {});
    await store.close().catch(() => {});
  }
}

export function printQueryTimings(rows: QueryTiming[]): void {
  console.log(
    `\nCLI queries on ${REPLAY_EVENTS.toLocaleString('en')} events (median ms; target < ${QUERY_TARGET_MS} ms each)`,
  );
  console.log(`${'query'.padEnd(32)}${'raw SQL'.padStart(10)}${'ours'.padStart(10)}  target`);
  for (const r of rows) {
    const ours = median(r.ours);
    console.log(
      `${r.name.padEnd(32)}${median(r.raw).toFixed(1).padStart(10)}${ours.toFixed(1).padStart(10)}  ${ours < QUERY_TARGET_MS ? 'met' : 'MISSED'}`,
    );
  }
}
