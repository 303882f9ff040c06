import { DEFAULT_POOL } from '../../events/common';
import type { EventDefinition, EventOf } from '../../events/define';
import type { Sql } from './db';
import {
  type Checkpoint,
  EVENT_COLUMNS,
  type EventRow,
  type EventStore,
  READ_HORIZON_SQL,
  type StoredEvent,
} from './event-store';
import { EVENT_TIME_SQL } from './event-time';

/**
 * Queries on `events` the control loop asks, one function each, so that no SQL lives outside the
 * store and the projections.
 */

/**
 * Every event of streams starting with `streamPrefix` committed after a checkpoint, in position
 * order. Unlike readBatch this does not hold back for older open transactions: it sees every
 * committed event now, for a reader that folds them onto a projection it has read already (a
 * reader that checkpoints must use readBatch).
 */
export async function readCommittedAfter<D extends EventDefinition>(
  store: EventStore<D>,
  after: Checkpoint,
  streamPrefix: string,
): Promise<StoredEvent<EventOf<D>>[]> {
  const rows = await store.sql.query<EventRow>(
    `select ${EVENT_COLUMNS} from events
      where ((tx_id::text)::bigint, global_position) > ($1::bigint, $2::bigint) and stream_id like $3
      order by global_position`,
    [after.txId, after.position, `${likeEscape(streamPrefix)}%`],
  );
  return store.decodeRows(rows);
}

/** A literal for LIKE: `_`, `%` and `\` match themselves. */
const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * The condition that an event is of the pool in parameter `$n` (data.pool; an event recorded before
 * pools has none and is pool default's). Every read of a pool's history uses it.
 */
export const ofPoolSql = (n: number): string => `coalesce(data->>'pool', '${DEFAULT_POOL}') = $${n}`;

/** A pool's anomalies recorded since its last health summary (all of them when there is none), by kind. */
export async function anomalyKindsSinceLastSummary(sql: Sql, pool = DEFAULT_POOL): Promise<Record<string, number>> {
  const rows = await sql.query<{ kind: string; n: number | string }>(
    `select data->>'kind' as kind, count(*)::bigint as n from events
      where event_type = 'AnomalyDetected' and ${ofPoolSql(1)} and global_position > coalesce(
        (select max(global_position) from events where event_type = 'HealthSummaryRecorded' and ${ofPoolSql(1)}), 0)
      group by 1`,
    [pool],
  );
  return Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]));
}

/** A spawn's outcome as the spawn guard reads it: the event type, its time, its failure kind and error. */
export interface SpawnOutcomeRow {
  type: 'WorkerSpawned' | 'WorkerSpawnFailed';
  at: string;
  kind: string | null;
  error: string | null;
}

/**
 * Every spawn and failed spawn whose event time is in [since, until) (ISO 8601), in position
 * order. Asked every cycle: the time range uses the index on EVENT_TIME_SQL, so its cost follows
 * the window, not the length of the record.
 */
export async function spawnOutcomesBetween(
  sql: Sql,
  since: string,
  until: string,
  pool = DEFAULT_POOL,
): Promise<SpawnOutcomeRow[]> {
  return sql.query<SpawnOutcomeRow>(
    `select event_type as type, data->>'at' as at, data->>'kind' as kind, data->>'error' as error from events
      where ${EVENT_TIME_SQL} >= $1::timestamptz and ${EVENT_TIME_SQL} < $2::timestamptz
        and event_type in ('WorkerSpawned', 'WorkerSpawnFailed') and ${ofPoolSql(3)}
      order by global_position`,
    [since, until, pool],
  );
}

/** One accepted task count as a policy looks back at it. */
export interface ObservationRow {
  cycle: number;
  at: string;
  queued: number;
  active: number;
}

/**
 * The accepted task counts (TaskCountObserved) whose event time is in [since, until), ISO 8601,
 * oldest first: the history a policy looks back at (`view.recent`), the same live, after a restart
 * and in what-if. Asked every cycle: indexed by time, as spawnOutcomesBetween.
 */
export async function observationsBetween(
  sql: Sql,
  since: string,
  until: string,
  pool = DEFAULT_POOL,
): Promise<ObservationRow[]> {
  const rows = await sql.query<{
    cycle: string | null;
    at: string | null;
    queued: string | null;
    active: string | null;
  }>(
    `select data->>'cycle' as cycle, data->>'at' as at, data->>'queued' as queued, data->>'active' as active
       from events
      where ${EVENT_TIME_SQL} >= $1::timestamptz and ${EVENT_TIME_SQL} < $2::timestamptz
        and event_type = 'TaskCountObserved' and ${ofPoolSql(3)}
      order by global_position`,
    [since, until, pool],
  );
  return acceptedObservations(rows);
}

/**
 * Observations read as text, not decoded (SQL and in memory alike): a stored row no schema reads
 * (quarantined by the decoding readers) must not reach a policy as NaN, so rows whose figures are
 * not whole numbers, or whose time is not text, are left out.
 */
export function acceptedObservations(
  rows: readonly { cycle: unknown; at: unknown; queued: unknown; active: unknown }[],
): ObservationRow[] {
  // a missing figure is null in SQL, undefined in memory: neither may count as 0
  const whole = (v: unknown) =>
    typeof v === 'number' || (typeof v === 'string' && v.trim() !== '') ? Number(v) : Number.NaN;
  const out: ObservationRow[] = [];
  for (const r of rows) {
    const o = { cycle: whole(r.cycle), at: r.at, queued: whole(r.queued), active: whole(r.active) };
    if ([o.cycle, o.queued, o.active].every(Number.isSafeInteger) && typeof o.at === 'string')
      out.push({ ...o, at: o.at });
  }
  return out;
}

/**
 * The controller's accepted task counts and decisions (TaskCountObserved, ScalingDecided) whose
 * event time is in [since, until), ISO 8601, decoded (older versions upcast), in position order;
 * with `pool`, that pool's only (without: every pool's).
 */
export async function decisionsBetween(
  store: EventStore,
  since: string,
  until: string,
  pool?: string,
): Promise<StoredEvent[]> {
  const rows = await store.sql.query<EventRow>(
    `select ${EVENT_COLUMNS} from events
      where ${EVENT_TIME_SQL} >= $1::timestamptz and ${EVENT_TIME_SQL} < $2::timestamptz
        and event_type in ('TaskCountObserved', 'ScalingDecided')${pool === undefined ? '' : ` and ${ofPoolSql(3)}`}
      order by global_position`,
    pool === undefined ? [since, until] : [since, until, pool],
  );
  return store.decodeRows(rows);
}

/** The checkpoint of the last committed event (START for an empty store): where a live tail starts. */
export async function headCheckpoint(sql: Sql): Promise<Checkpoint> {
  const rows = await sql.query<{ tx_id: string; global_position: number }>(
    `select tx_id::text as tx_id, global_position from events
      where tx_id < ${READ_HORIZON_SQL}
      order by (tx_id::text)::bigint desc, global_position desc limit 1`,
  );
  return rows[0] ? { txId: rows[0].tx_id, position: rows[0].global_position } : { txId: '0', position: 0 };
}

/**
 * How many events each named checkpoint is behind the head (positions between its position and
 * the highest one); a name without a checkpoint yet is behind by the whole store.
 */
export async function checkpointLags(sql: Sql, names: readonly string[]): Promise<Record<string, number>> {
  const rows = await sql.query<{ name: string; lag: number }>(
    `select n.name, greatest(0, (select coalesce(max(global_position), 0) from events) - coalesce(c.global_position, 0))::bigint as lag
       from unnest($1::text[]) as n(name) left join projection_checkpoints c on c.name = n.name`,
    [[...names]],
  );
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.lag)]));
}

/**
 * Alerting events (of `types`) whose event time is at or after `since` (ISO 8601) and that a
 * subscriber at `upTo` has handled already, in position order: what an alert sender folds on
 * start to know which alerts of the last grouping window it sent.
 */
export async function eventsHandledSince(
  store: EventStore,
  types: readonly string[],
  since: string,
  upTo: Checkpoint,
): Promise<StoredEvent[]> {
  const rows = await store.sql.query<EventRow>(
    `select ${EVENT_COLUMNS} from events
      where event_type = any($1::text[]) and ${EVENT_TIME_SQL} >= $2::timestamptz
        and ((tx_id::text)::bigint, global_position) <= ($3::bigint, $4::bigint)
      order by (tx_id::text)::bigint, global_position`,
    [[...types], since, upTo.txId, upTo.position],
  );
  return store.decodeRows(rows);
}

/**
 * A pool's last ConditionChanged of each condition type (the conditions as they stand), decoded. Read
 * backwards on the (event_type, global_position) index: as cheap with a long history as a short one.
 */
export async function lastConditionChanges<D extends EventDefinition>(
  store: EventStore<D>,
  types: readonly string[],
  pool = DEFAULT_POOL,
): Promise<StoredEvent<EventOf<D>>[]> {
  if (types.length === 0) return [];
  const parts = types.map(
    (_, i) =>
      `(select ${EVENT_COLUMNS} from events where event_type = 'ConditionChanged' and data->>'type' = $${i + 2}
          and ${ofPoolSql(1)}
         order by global_position desc limit 1)`,
  );
  const rows = await store.sql.query<EventRow>(parts.join(' union all '), [pool, ...types]);
  return rows.map((r) => store.decode(r)).sort((a, b) => a.globalPosition - b.globalPosition);
}

/**
 * The workers' lifecycle events (asked for, spawned or failed, up, terminated) whose event time is
 * before `until` (ISO 8601), decoded, in position order: what what-if's fleet model reads of the
 * record (each worker's start-up time and the fleet at a window's start).
 */
export async function workerLivesBefore(store: EventStore, until: string): Promise<StoredEvent[]> {
  const rows = await store.sql.query<EventRow>(
    `select ${EVENT_COLUMNS} from events
      where ${EVENT_TIME_SQL} < $1::timestamptz
        and event_type in ('WorkerSpawnRequested', 'WorkerSpawnFailed', 'WorkerActivated', 'WorkerTerminated',
                           'WorkerParked', 'WorkerUnparked', 'WorkerUnparkRefused')
      order by global_position`,
    [until],
  );
  return rows.map((r) => store.decode(r));
}

/**
 * What a pool last asked of the global budget: the time of its last decision and the workers it
 * wanted then (its share's `wantWorkers` when the decision records an allocation, else its desired
 * count). The raw figures only (a decision is not decoded: every pool asks this of every other
 * pool every cycle); null when the pool has decided nothing yet.
 */
export interface WantRow {
  pool: string;
  at: string;
  wantWorkers: number;
  /** One more worker's price that decision used (its quoteUsdPerHour), USD/h; null: unknown. */
  usdPerWorker: number | null;
}

/** The last decision's want of each of `pools` (those that decided), from the tail of each pool's controller stream. */
export async function latestWants(sql: Sql, pools: readonly string[], streams: readonly string[]): Promise<WantRow[]> {
  if (pools.length === 0) return [];
  const rows = await sql.query<{
    pool: string;
    at: string | null;
    want: string | null;
    desired: string | null;
    quote: string | null;
  }>(
    `select s.pool, e.data->>'at' as at, e.data->>'desired' as desired, e.data->>'quoteUsdPerHour' as quote,
            (select x->>'wantWorkers' from jsonb_array_elements(coalesce(e.data->'allocation'->'shares', '[]'::jsonb)) x
              where x->>'pool' = s.pool limit 1) as want
       from unnest($1::text[], $2::text[]) as s(pool, stream)
       cross join lateral (
         select data from events where stream_id = s.stream and event_type = 'ScalingDecided'
          order by stream_version desc limit 1) e`,
    [[...pools], [...streams]],
  );
  return acceptedWants(rows);
}

/** Want rows read as text (SQL and in memory alike), by pool name: a row whose figures are not whole numbers is left out. */
export function acceptedWants(
  rows: readonly { pool: unknown; at: unknown; want: unknown; desired: unknown; quote: unknown }[],
): WantRow[] {
  const num = (x: unknown) =>
    typeof x === 'number' || (typeof x === 'string' && x.trim() !== '') ? Number(x) : Number.NaN;
  const out: WantRow[] = [];
  for (const r of rows) {
    const want = num(r.want ?? r.desired);
    const quote = num(r.quote);
    if (typeof r.pool === 'string' && typeof r.at === 'string' && Number.isSafeInteger(want) && want >= 0)
      out.push({
        pool: r.pool,
        at: r.at,
        wantWorkers: want,
        usdPerWorker: Number.isFinite(quote) && quote >= 0 ? quote : null,
      });
  }
  return out.sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0));
}

/**
 * Takes the budget's lock until the transaction `sql` runs in ends (migrations/0030_budget_lock.sql):
 * a reactor's check of the global caps and its spawn request are one step for every pool.
 */
export async function lockBudget(sql: Sql): Promise<void> {
  await sql.query(`select name from budget_lock where name = 'budget' for update`);
}
