import { DEFAULT_POOL, POOL_NAME_PATTERN } from '../../events/common';
import { POOL_STREAM_SEPARATOR, Streams } from '../../events/index';
import type { EventStore } from '../store/event-store';

/**
 * The pools a store has a record of: those with a controller stream (`controller` is pool default's,
 * `controller@<pool>` another pool's), in name order, default first. A loose index scan over the
 * streams' unique index (stream_id, stream_version): one probe per pool, however many events.
 * The range holds every name that starts with `controller` in any collation (`@` sorts after or is
 * ignored at the first level, and `e` < `f`), and nothing else of this project's streams.
 */
export async function poolsInStore(store: EventStore): Promise<string[]> {
  const kind = Streams.controller(DEFAULT_POOL);
  const rows = await store.sql.query<{ stream_id: string }>(
    `with recursive s(stream_id) as (
       (select stream_id from events where stream_id >= $1 and stream_id < $2 order by stream_id limit 1)
       union all
       select (select e.stream_id from events e
                where e.stream_id > s.stream_id and e.stream_id < $2 order by e.stream_id limit 1)
         from s where s.stream_id is not null
     )
     select stream_id from s where stream_id is not null`,
    [kind, `${kind.slice(0, -1)}${String.fromCharCode(kind.charCodeAt(kind.length - 1) + 1)}`],
  );
  return poolsOfControllerStreams(rows.map((r) => r.stream_id));
}

/** The pools of these stream names that are controller streams (default first, then by name). */
export function poolsOfControllerStreams(streamIds: readonly string[]): string[] {
  const kind = Streams.controller(DEFAULT_POOL);
  const pools = new Set<string>();
  for (const id of streamIds) {
    if (id === kind) pools.add(DEFAULT_POOL);
    else if (id.startsWith(`${kind}${POOL_STREAM_SEPARATOR}`)) {
      const pool = id.slice(kind.length + 1);
      if (POOL_NAME_PATTERN.test(pool) && Streams.controller(pool) === id) pools.add(pool);
    }
  }
  return [...pools].sort((a, b) => (a === DEFAULT_POOL ? -1 : b === DEFAULT_POOL ? 1 : a < b ? -1 : a > b ? 1 : 0));
}

/** `pool image has no record in the store; its pools are default, video` (or: it has none yet). */
export function unknownPoolText(pool: string, known: readonly string[]): string {
  return known.length
    ? `pool ${pool} has no record in the store: its pools are ${known.join(', ')} (name one with --pool)`
    : `pool ${pool} has no record in the store: it has no pool's record yet (no cycle has run)`;
}

/** The heading of one pool's part where a command shows several pools apart (explain, what-if): `== pool video ==`. */
export const poolHeading = (pool: string): string => `== pool ${pool} ==`;
