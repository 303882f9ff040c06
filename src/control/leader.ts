import postgres from 'postgres';

/**
 * One leader per store: two controllers started against the same database must never both act.
 * On a server the leader holds a session advisory lock on a connection of its own; if the process
 * dies, the server drops the connection and the lock with it, and a follower (trying every cycle)
 * takes over within a cycle. An embedded store is locked by its data directory instead (dir-lock.ts),
 * so a second process cannot even open it.
 */
export interface LeaderLock {
  /** Becomes or stays the leader; true while this process holds the lock. */
  tryAcquire(): Promise<boolean>;
  release(): Promise<void>;
}

export const embeddedLeaderLock = (): LeaderLock => ({
  tryAcquire: async () => true,
  release: async () => {},
});

const LOCK_CLASS = 2002;

export function postgresLeaderLock(url: string, schema = 'public'): LeaderLock {
  const sql = postgres(url, {
    max: 1,
    idle_timeout: 0,
    onnotice: () => {},
    connection: { application_name: 'gpu-scaler-leader' },
  });
  let held = false;
  const key = sql`hashtext(${`gpu-scaler:${schema}`})`;
  return {
    async tryAcquire() {
      try {
        if (held) {
          // Still ours? After a dropped connection the client reconnects to a backend without it.
          const [row] = await sql`select count(*)::int as n from pg_locks
            where locktype = 'advisory' and pid = pg_backend_pid() and classid = ${LOCK_CLASS}
              and objid = (${key})::oid and granted`;
          held = row.n > 0;
          if (held) return true;
        }
        const [row] = await sql`select pg_try_advisory_lock(${LOCK_CLASS}, ${key}) as ok`;
        held = row.ok === true;
        return held;
      } catch {
        held = false;
        return false;
      }
    },
    async release() {
      try {
        if (held) await sql`select pg_advisory_unlock(${LOCK_CLASS}, ${key})`;
      } catch {
        /* the connection is gone, and the lock with it */
      }
      held = false;
      await sql.end({ timeout: 2 });
    },
  };
}
