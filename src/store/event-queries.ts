import { DEFAULT_POOL, PoolName } from '../../events/common';
import { Streams } from '../../events/index';
import { ALL_POOLS } from '../../events/operator';
import {
  type Checkpoint,
  EVENT_COLUMNS,
  type EventRow,
  type EventStore,
  READ_HORIZON_SQL,
  START,
  type StoredEvent,
} from './event-store';
import { EVENT_CYCLE_SQL, EVENT_TIME_SQL, eventTime } from './event-time';

/**
 * The reads of `events` the CLI asks (events, explain, status), one function each, so no SQL lives
 * in src/cli. Every time filter is EVENT_TIME_SQL (indexed as events_event_time_idx), every cycle
 * filter EVENT_CYCLE_SQL with a stream (events_stream_cycle_idx), every type filter uses events_type_idx.
 */

/** Which events: every field optional, all given ones must hold. */
export interface EventFilter {
  types?: readonly string[];
  /** A stream id; `*` matches any characters (worker-*). */
  stream?: string;
  /**
   * Only events of these pools (data.pool; an event without one is pool default's, an operator
   * command on every pool, `*`, is each pool's). Absent or empty: every pool.
   */
  pools?: readonly string[];
  /** Event time at or after. */
  since?: Date;
  /** Event time at or before. */
  until?: Date;
  /** Up to and including this global position. */
  untilPosition?: number;
  /** From this global position on. */
  fromPosition?: number;
  /** Only what a reader at this checkpoint has seen (commit order). */
  upTo?: Checkpoint;
}

/** An event row with its event time (EVENT_TIME_SQL). */
export type TimedEventRow = EventRow & { event_time: Date | string };

/** A literal for LIKE: `_`, `%` and `\` match themselves. */
const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

function whereClause(f: EventFilter, params: unknown[]): string {
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const conds: string[] = [];
  if (f.types?.length) conds.push(`event_type in (${f.types.map((t) => p(t)).join(', ')})`);
  if (f.stream !== undefined) {
    if (f.stream.includes('*')) conds.push(`stream_id like ${p(likeEscape(f.stream).replace(/\*/g, '%'))}`);
    else conds.push(`stream_id = ${p(f.stream)}`);
  }
  if (f.pools?.length) {
    const names = [...f.pools, ALL_POOLS].map((x) => p(x)).join(', ');
    conds.push(`coalesce(data->>'pool', ${p(DEFAULT_POOL)}) in (${names})`);
  }
  if (f.since) conds.push(`${EVENT_TIME_SQL} >= ${p(f.since.toISOString())}::timestamptz`);
  if (f.until) conds.push(`${EVENT_TIME_SQL} <= ${p(f.until.toISOString())}::timestamptz`);
  if (f.untilPosition !== undefined) conds.push(`global_position <= ${p(f.untilPosition)}::bigint`);
  if (f.fromPosition !== undefined) conds.push(`global_position >= ${p(f.fromPosition)}::bigint`);
  if (f.upTo) {
    conds.push(
      `((tx_id::text)::bigint, global_position) <= (${p(f.upTo.txId)}::bigint, ${p(f.upTo.position)}::bigint)`,
    );
  }
  return conds.length ? `where ${conds.join(' and ')}` : '';
}

/**
 * At most `limit` matching events in position order: the first ones (`head`) or the newest ones
 * (`tail`, returned newest first).
 */
export async function findEvents(
  store: EventStore,
  f: EventFilter,
  opts: { mode: 'head' | 'tail'; limit: number },
): Promise<TimedEventRow[]> {
  const params: unknown[] = [];
  const where = whereClause(f, params);
  const order = `order by global_position ${opts.mode === 'tail' ? 'desc' : 'asc'} limit ${Math.max(0, Math.floor(opts.limit))}`;
  if (f.since && opts.mode === 'head') {
    // The first events since a time: found by the event-time index first (positions only, no data
    // read), then the first `limit` of them fetched. Left to itself the planner reads the table in
    // position order from the start, working out every event's time, because it takes the recent
    // events to be spread evenly through the record: 15 s for `--since 1h` at 360,000 events.
    return store.sql.query<TimedEventRow>(
      `with hits as materialized (select global_position from events ${where})
       select ${EVENT_COLUMNS}, ${EVENT_TIME_SQL} as event_time from events
        where global_position in (select global_position from hits ${order})
        ${order}`,
      params,
    );
  }
  return store.sql.query<TimedEventRow>(
    `select ${EVENT_COLUMNS}, ${EVENT_TIME_SQL} as event_time from events ${where} ${order}`,
    params,
  );
}

/** How many events match. */
export async function countEvents(store: EventStore, f: EventFilter): Promise<number> {
  const params: unknown[] = [];
  const where = whereClause(f, params);
  const [row] = await store.sql.query<{ n: number }>(`select count(*)::bigint as n from events ${where}`, params);
  return Number(row.n);
}

/** What the store holds: how many events, the first and last event time, the last position. */
export async function eventRange(
  store: EventStore,
): Promise<{ count: number; first: unknown; last: unknown; head: number }> {
  const [row] = await store.sql.query<{ n: number; first: unknown; last: unknown; head: number }>(
    `select count(*)::bigint as n, min(${EVENT_TIME_SQL}) as first, max(${EVENT_TIME_SQL}) as last,
            coalesce(max(global_position), 0)::bigint as head from events`,
  );
  return { count: Number(row.n), first: row.first, last: row.last, head: Number(row.head) };
}

/** The last committed checkpoint under the xmin rule: where a follower starts reading. */
export async function endCheckpoint(store: EventStore): Promise<Checkpoint> {
  const rows = await store.sql.query<{ tx_id: string; global_position: number }>(
    `select tx_id::text as tx_id, global_position from events
      where tx_id < ${READ_HORIZON_SQL}
      order by (tx_id::text)::bigint desc, global_position desc limit 1`,
  );
  return rows[0] ? { txId: rows[0].tx_id, position: Number(rows[0].global_position) } : START;
}

/** The most events explain reads for one question. */
const EXPLAIN_LIMIT = 5000;

/** `per`: the questions asked at once (pools): each gets EXPLAIN_LIMIT. */
async function eventRows(store: EventStore, where: string, params: unknown[], per = 1): Promise<EventRow[]> {
  return store.sql.query<EventRow>(
    `select ${EVENT_COLUMNS} from events where ${where} order by global_position limit ${EXPLAIN_LIMIT * per}`,
    params,
  );
}

/**
 * A pool's controller stream as a SQL literal (the name is checked: a pool name has only
 * [a-z0-9-], so nothing else can be inlined). Its cycles are indexed as events_stream_cycle_idx
 * (stream_id, event_cycle(data)) where event_cycle(data) is not null.
 */
function controllerStreamSql(pool: string): string {
  const name = PoolName.parse(pool);
  return `'${Streams.controller(name)}'`;
}

/** An event's pool (data.pool; an event without one is pool default's), as events_pool_cycle_idx has it. */
const POOL_SQL = `coalesce(data->>'pool', '${DEFAULT_POOL}')`;

/** The highest cycle on a pool's controller stream (null: none yet). */
export async function lastCycle(store: EventStore, pool = DEFAULT_POOL): Promise<number | null> {
  const [row] = await store.sql.query<{ max: number | null }>(
    `select max(${EVENT_CYCLE_SQL}) as max from events
      where stream_id = ${controllerStreamSql(pool)} and ${EVENT_CYCLE_SQL} is not null`,
  );
  return row?.max === null || row?.max === undefined ? null : Number(row.max);
}

/**
 * The events caused by these events (metadata.causationId): decisions' spawns and terminations
 * (`per`: how many explanations they serve, each allowed EXPLAIN_LIMIT events).
 */
export function eventsCausedBy(store: EventStore, eventIds: readonly string[], per = 1): Promise<EventRow[]> {
  if (eventIds.length === 0) return Promise.resolve([]);
  // One probe of events_causation_idx (partial on a cause being there, said here so a generic plan
  // can use it) per id, in a lateral subquery the planner may not flatten (offset 0), and nothing
  // joined to what it finds. The planner takes each id for tens of thousands of events (at 10
  // million events: 49,771 estimated, 0 to 5 there): as one `= any($1)`, or with the rows fetched
  // by a join on the positions found, it read the whole table in position order (1 to 1.5 s).
  return store.sql.query<EventRow>(
    `select e.* from unnest($1::text[]) as cause(id)
      cross join lateral (select ${EVENT_COLUMNS} from events
        where metadata->>'causationId' is not null and metadata->>'causationId' = cause.id offset 0) e
      order by e.global_position limit ${EXPLAIN_LIMIT * per}`,
    [eventIds],
  );
}

/**
 * Every event whose event time is in [from, to]; with `cycle`, only the events of pool `pool`'s other
 * streams than its controller's that name that cycle in their metadata (by events_pool_cycle_idx,
 * migration 0035: no controller stream holds another pool's events, so leaving them all out, as the
 * index does, changes nothing and lets the planner use it).
 */
export function eventsBetween(
  store: EventStore,
  from: Date,
  to: Date,
  cycle?: number,
  pool = DEFAULT_POOL,
): Promise<EventRow[]> {
  return cycle === undefined
    ? eventRows(store, TIME_RANGE_SQL, [from.toISOString(), to.toISOString()])
    : eventRows(store, poolCycleEventsSql(), [from.toISOString(), to.toISOString(), String(cycle), [pool]]);
}

/** Event time in [$1, $2]. */
const TIME_RANGE_SQL = `${EVENT_TIME_SQL} >= $1::timestamptz and ${EVENT_TIME_SQL} <= $2::timestamptz`;

/**
 * The events of cycle $3 of the pools $4 (a text array) on other streams than the controllers', in
 * [$1, $2] (by events_pool_cycle_idx: no controller stream holds another pool's events, so leaving
 * them all out changes nothing).
 */
export const poolCycleEventsSql = (): string =>
  `${TIME_RANGE_SQL} and stream_id not like 'controller%' and metadata->>'cycle' = $3::text and ${POOL_SQL} = any($4::text[])`;

/** Events in position order, each once. */
export function dedupeEvents(events: StoredEvent[]): StoredEvent[] {
  const seen = new Map(events.map((e) => [e.globalPosition, e]));
  return [...seen.values()].sort((a, b) => a.globalPosition - b.globalPosition);
}

/** The decisions among these events, by id (what their spawns and terminations name as cause). */
export const decisionIds = (events: readonly StoredEvent[]) =>
  events.filter((e) => e.type === 'ScalingDecided').map((e) => e.eventId);

/** What explain reads of one pool's cycle: its events, or, with none, the highest cycle it has (null: none yet). */
export type CycleEvents = { events: StoredEvent[] } | { events: null; maxCycle: number | null };
/** (Every pool asked gets an answer; this one is never given.) */
const NO_CYCLE: CycleEvents = { events: null, maxCycle: null };

/**
 * What `explain` (the CLI and the dashboard) reads about one cycle: the controller stream's events
 * of it, everything its decision caused, what other streams recorded for that cycle within
 * `windowMs` after it, and when the workers it started were up (within `windowMs`), decoded, in
 * position order. With none, the highest cycle there is (null: the store has no cycles yet).
 */
export async function eventsOfCycle(
  store: EventStore,
  cycle: number,
  windowMs: number,
  pool = DEFAULT_POOL,
): Promise<CycleEvents> {
  return (await eventsOfCycles(store, cycle, windowMs, [pool])).get(pool) ?? NO_CYCLE;
}

/**
 * eventsOfCycle of several pools at once (cycle N of each: pools count their cycles apart), in four
 * statements whatever the number of pools (`explain --cycle N` of 100 pools made 400 round trips).
 */
export async function eventsOfCycles(
  store: EventStore,
  cycle: number,
  windowMs: number,
  pools: readonly string[],
): Promise<Map<string, CycleEvents>> {
  const decode = (rows: EventRow[]) => store.decodeRows(rows);
  const byStream = new Map(pools.map((p) => [Streams.controller(PoolName.parse(p)), p]));
  const own = decode(
    await eventRows(
      store,
      `stream_id = any($1::text[]) and ${EVENT_CYCLE_SQL} = $2`,
      [[...byStream.keys()], cycle],
      pools.length,
    ),
  );
  const out = new Map<string, CycleEvents>();
  // each pool's window: from its own cycle's first event
  const windows = new Map<string, { from: Date; to: Date; events: StoredEvent[] }>();
  for (const e of own) {
    const pool = byStream.get(e.streamId) ?? DEFAULT_POOL;
    const w = windows.get(pool);
    if (w) w.events.push(e);
    else {
      const from = eventTime(e.data, e.recordedAt);
      windows.set(pool, { from, to: new Date(from.getTime() + windowMs), events: [e] });
    }
  }
  for (const p of pools) if (!windows.has(p)) out.set(p, { events: null, maxCycle: await lastCycle(store, p) });
  if (windows.size === 0) return out;
  const froms = [...windows.values()].map((w) => w.from.getTime());
  const from = new Date(Math.min(...froms)).toISOString();
  const to = new Date(Math.max(...froms) + windowMs).toISOString();
  const poolOfDecision = new Map(
    [...windows].flatMap(([pool, w]) => decisionIds(w.events).map((id) => [id, pool] as const)),
  );
  const caused = decode(await eventsCausedBy(store, [...poolOfDecision.keys()], windows.size));
  const same = decode(
    await eventRows(store, poolCycleEventsSql(), [from, to, String(cycle), [...windows.keys()]], windows.size),
  );
  // when each worker the decision spawned or started from the parked pool was up (its "ready in"):
  // recorded by a later cycle's sync, so neither caused by the decision nor of its cycle
  const started = new Map<string, string>();
  for (const e of caused) {
    const pool = poolOfDecision.get(e.metadata?.causationId ?? '');
    if (pool && (e.type === 'WorkerSpawned' || e.type === 'WorkerUnparked'))
      started.set(`worker-${e.data.workerId}`, pool);
  }
  const up = started.size
    ? decode(
        await eventRows(
          store,
          `stream_id = any($1::text[]) and event_type = 'WorkerActivated' and ${EVENT_TIME_SQL} >= $2::timestamptz and ${EVENT_TIME_SQL} <= $3::timestamptz`,
          [[...started.keys()], from, to],
          windows.size,
        ),
      )
    : [];
  const inWindow = (w: { from: Date; to: Date }, e: StoredEvent) => {
    const t = eventTime(e.data, e.recordedAt).getTime();
    return t >= w.from.getTime() && t <= w.to.getTime();
  };
  for (const [pool, w] of windows) {
    const mine = [
      ...w.events,
      ...caused.filter((e) => poolOfDecision.get(e.metadata?.causationId ?? '') === pool),
      ...same.filter((e) => (e.data.pool ?? DEFAULT_POOL) === pool && inWindow(w, e)),
      ...up.filter((e) => started.get(e.streamId) === pool && inWindow(w, e)),
    ];
    out.set(pool, { events: dedupeEvents(mine) });
  }
  return new Map(pools.map((p) => [p, out.get(p) ?? NO_CYCLE]));
}

/** The task total a pool's controller observed in the last cycle before `cycle` (null: none). */
export async function taskTotalBefore(store: EventStore, cycle: number, pool = DEFAULT_POOL): Promise<number | null> {
  return (await taskTotalsBefore(store, [{ pool, cycle }])).get(pool) ?? null;
}

/**
 * taskTotalBefore of several pools at once, each before its own cycle, in one statement (one probe
 * of events_stream_cycle_idx per pool, backwards from its cycle): pool -> total (null: none).
 */
export async function taskTotalsBefore(
  store: EventStore,
  asks: readonly { pool: string; cycle: number }[],
): Promise<Map<string, number | null>> {
  const streams = asks.map((a) => Streams.controller(PoolName.parse(a.pool)));
  const byStream = new Map(streams.map((s, i) => [s, asks[i].pool]));
  const out = new Map<string, number | null>(asks.map((a) => [a.pool, null]));
  if (asks.length === 0) return out;
  const rows = await store.sql.query<{ stream_id: string; total: number | null }>(
    `select ask.stream_id, t.total from unnest($1::text[], $2::bigint[]) as ask(stream_id, cycle)
      cross join lateral (select (data->>'total')::int as total from events
        where stream_id = ask.stream_id and event_type = 'TaskCountObserved' and ${EVENT_CYCLE_SQL} < ask.cycle
        order by ${EVENT_CYCLE_SQL} desc, stream_version desc limit 1) t`,
    [streams, asks.map((a) => a.cycle)],
  );
  for (const r of rows) out.set(byStream.get(r.stream_id) ?? DEFAULT_POOL, r.total ?? null);
  return out;
}

/** The newest event: its position, type, stream and event time (null: the store is empty). */
export async function lastEvent(
  store: EventStore,
): Promise<{ position: number; type: string; streamId: string; time: unknown } | null> {
  const [row] = await store.sql.query<{ global_position: number; event_type: string; stream_id: string; at: unknown }>(
    `select global_position, event_type, stream_id, ${EVENT_TIME_SQL} as at from events
      order by global_position desc limit 1`,
  );
  return row
    ? { position: Number(row.global_position), type: row.event_type, streamId: row.stream_id, time: row.at }
    : null;
}

/** The newest event of a type (events_type_idx), decoded by the caller. */
export async function lastEventOfType(store: EventStore, type: string): Promise<EventRow | null> {
  const [row] = await store.sql.query<EventRow>(
    `select ${EVENT_COLUMNS} from events where event_type = $1 order by global_position desc limit 1`,
    [type],
  );
  return row ?? null;
}
