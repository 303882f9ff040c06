import type { Sql } from './db';
import { type Checkpoint, EVENT_COLUMNS, type EventRow, type EventStore, type StoredEvent } from './event-store';

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
export async function readCommittedAfter(
  store: EventStore,
  after: Checkpoint,
  streamPrefix: string,
): Promise<StoredEvent[]> {
  const rows = await store.sql.query<EventRow>(
    `select ${EVENT_COLUMNS} from events
      where ((tx_id::text)::bigint, global_position) > ($1::bigint, $2::bigint) and stream_id like $3
      order by global_position`,
    [after.txId, after.position, `${likeEscape(streamPrefix)}%`],
  );
  return rows.map((r) => store.decode(r));
}

/** A literal for LIKE: `_`, `%` and `\` match themselves. */
const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Anomalies recorded since the last health summary (all of them when there is none), by kind. */
export async function anomalyKindsSinceLastSummary(sql: Sql): Promise<Record<string, number>> {
  const rows = await sql.query<{ kind: string; n: number }>(
    `select data->>'kind' as kind, count(*)::bigint as n from events
      where event_type = 'AnomalyDetected' and global_position > coalesce(
        (select max(global_position) from events where event_type = 'HealthSummaryRecorded'), 0)
      group by 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.kind, r.n]));
}

/** A spawn's outcome as the spawn guard reads it: the event type, its time, its failure kind and error. */
export interface SpawnOutcomeRow {
  type: 'WorkerSpawned' | 'WorkerSpawnFailed';
  at: string;
  kind: string | null;
  error: string | null;
}

/** Every spawn and failed spawn whose `at` is at or after `since` (ISO 8601), in position order. */
export async function spawnOutcomesSince(sql: Sql, since: string): Promise<SpawnOutcomeRow[]> {
  return sql.query<SpawnOutcomeRow>(
    `select event_type as type, data->>'at' as at, data->>'kind' as kind, data->>'error' as error from events
      where event_type in ('WorkerSpawned', 'WorkerSpawnFailed') and data->>'at' >= $1 order by global_position`,
    [since],
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
 * The accepted task counts (TaskCountObserved) whose `at` is in [since, until), ISO 8601, oldest
 * first: the history a policy looks back at (`view.recent`), the same live, after a restart and in
 * what-if.
 */
export async function observationsBetween(sql: Sql, since: string, until: string): Promise<ObservationRow[]> {
  const rows = await sql.query<{
    cycle: number | string;
    at: string;
    queued: number | string;
    active: number | string;
  }>(
    `select data->>'cycle' as cycle, data->>'at' as at, data->>'queued' as queued, data->>'active' as active
       from events
      where event_type = 'TaskCountObserved' and data->>'at' >= $1 and data->>'at' < $2
      order by global_position`,
    [since, until],
  );
  return rows.map((r) => ({ cycle: Number(r.cycle), at: r.at, queued: Number(r.queued), active: Number(r.active) }));
}

/**
 * The controller's accepted task counts and decisions (TaskCountObserved, ScalingDecided) whose
 * `at` is in [since, until), ISO 8601, decoded (older versions upcast), in position order.
 */
export async function decisionsBetween(store: EventStore, since: string, until: string): Promise<StoredEvent[]> {
  const rows = await store.sql.query<EventRow>(
    `select ${EVENT_COLUMNS} from events
      where event_type in ('TaskCountObserved', 'ScalingDecided') and data->>'at' >= $1 and data->>'at' < $2
      order by global_position`,
    [since, until],
  );
  return rows.map((r) => store.decode(r));
}
