import type { Db } from './db';

/**
 * Who holds the catch-up readers back: the session of the oldest open transaction that could write
 * events (see READ_HORIZON_SQL in event-store.ts). Until it ends, no reader (the reactor, the
 * projections, the alerts) sees an event committed after it started, so spawns wait for it.
 */
export interface ReadsHeldBack {
  /** The transaction id (xid8, as text). */
  xid: string;
  /**
   * Its backend's pid. Null: a session this login may not see (another login's, without
   * pg_read_all_stats), a prepared transaction, or a session gone meanwhile.
   */
  pid: number | null;
  /** The login it runs as (null when unknown). */
  role: string | null;
  application: string | null;
  /** When its transaction started, when the database tells this login (other logins' are hidden). */
  since: Date | null;
  /** Its session's state (`idle in transaction`, `active`; null when hidden). */
  state: string | null;
}

/**
 * The session holding catch-up reads back now, or null when nothing does (no transaction that could
 * write events is open). Every append is such a transaction for a moment: the caller decides how long
 * is too long (StoreWatch: longer than a threshold). Null on PGlite and the in-memory store: one
 * connection, nothing else can hold a transaction open.
 */
export async function readsHeldBackBy(db: Db): Promise<ReadsHeldBack | null> {
  if (db.kind !== 'postgres') return null;
  const [row] = await db.query<{
    xid: string;
    pid: number | null;
    role: string | null;
    application: string | null;
    since: Date | string | null;
    state: string | null;
  }>(
    `select x::text as xid, a.pid, a.usename::text as role, a.application_name as application,
            a.xact_start as since, a.state
       from pg_current_snapshot() as s
       cross join lateral pg_snapshot_xip(s) as x
       left join pg_stat_activity a
         on a.backend_xid is not null and (a.backend_xid::text)::bigint = (x::text)::bigint % 4294967296
      where a.pid is null
         or (a.datid = (select d.oid from pg_database d where d.datname = current_database())
             and has_any_column_privilege(a.usesysid, 'events'::regclass, 'INSERT'))
      order by (x::text)::bigint
      limit 1`,
  );
  if (!row) return null;
  return {
    xid: row.xid,
    pid: row.pid === null ? null : Number(row.pid),
    role: row.role,
    application: row.application,
    since: row.since === null ? null : new Date(row.since),
    state: row.state,
  };
}
