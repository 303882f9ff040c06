import { EVENT_COLUMNS, type EventStore, type StoredEvent } from './event-store';
import { EVENT_CYCLE_SQL, EVENT_TIME_SQL } from './event-time';

/** What `explain` reads: the events of a query, in position order (at most 5000). */
export async function queryEvents(store: EventStore, where: string, params: unknown[]): Promise<StoredEvent[]> {
  // biome-ignore lint/suspicious/noExplicitAny: rows are decoded by the store
  const rows = await store.db.query<any>(
    `select ${EVENT_COLUMNS} from events where ${where} order by global_position limit 5000`,
    params,
  );
  return rows.map((r) => store.decode(r));
}

/** Events in position order, each once. */
export function dedupeEvents(events: StoredEvent[]): StoredEvent[] {
  const seen = new Map(events.map((e) => [e.globalPosition, e]));
  return [...seen.values()].sort((a, b) => a.globalPosition - b.globalPosition);
}

/**
 * A cycle's events: the controller stream's, everything its decision caused, and what other
 * streams recorded for that cycle within `windowMs` of it. `maxCycle` when it has none (null: the
 * store has no cycles yet).
 */
export async function eventsOfCycle(
  store: EventStore,
  cycle: number,
  windowMs: number,
): Promise<{ events: StoredEvent[] } | { events: null; maxCycle: number | null }> {
  const own = await queryEvents(store, `stream_id = 'controller' and ${EVENT_CYCLE_SQL} = $1`, [cycle]);
  if (own.length === 0) {
    const [{ max }] = await store.db.query<{ max: number | null }>(
      `select max(${EVENT_CYCLE_SQL}) as max from events where stream_id = 'controller'`,
    );
    return { events: null, maxCycle: max === null ? null : Number(max) };
  }
  const first = own[0].data;
  const from =
    typeof first === 'object' && first !== null && 'at' in first && typeof first.at === 'string'
      ? first.at
      : own[0].recordedAt.toISOString();
  const to = new Date(Date.parse(from) + windowMs).toISOString();
  const ids = own.filter((e) => e.type === 'ScalingDecided').map((e) => e.eventId);
  const caused = await causedBy(store, ids);
  const same = await queryEvents(
    store,
    `${EVENT_TIME_SQL} >= $1::timestamptz and ${EVENT_TIME_SQL} <= $2::timestamptz and stream_id <> 'controller' and metadata->>'cycle' = $3::text`,
    [from, to, String(cycle)],
  );
  return { events: dedupeEvents([...own, ...caused, ...same]) };
}

/** Every event caused by one of these (their causationId). */
export async function causedBy(store: EventStore, eventIds: readonly string[]): Promise<StoredEvent[]> {
  if (eventIds.length === 0) return [];
  return queryEvents(store, `metadata->>'causationId' = any($1::text[])`, [[...eventIds]]);
}

/** The accepted task total of the last cycle before `cycle`, if any ("jumped from"). */
export async function totalBefore(store: EventStore, cycle: number): Promise<number | null> {
  const rows = await store.db.query<{ total: number }>(
    `select (data->>'total')::int as total from events
      where stream_id = 'controller' and event_type = 'TaskCountObserved' and ${EVENT_CYCLE_SQL} < $1
      order by ${EVENT_CYCLE_SQL} desc, stream_version desc limit 1`,
    [cycle],
  );
  return rows[0]?.total ?? null;
}
