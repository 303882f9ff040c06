import postgres from 'postgres';
import { describeError } from '../logging/errors-file';
import { redactSecrets, secretValues } from '../logging/redact';
import { noDelaySockets, reconnectBackoff } from './db-postgres';

/**
 * One leader per store: two controllers started against the same database must never both act.
 * On a server the leader holds a session advisory lock on a connection of its own; if the process
 * dies, the server drops the connection and the lock with it, and a follower (trying every cycle)
 * takes over within a cycle. An embedded store is locked by its data directory instead (dir-lock.ts),
 * so a second process cannot even open it.
 */
export interface LeaderLock {
  /**
   * Becomes or stays the leader. `leading` while this process holds the lock; `other` when another
   * session holds it; `unreachable` when the database could not be asked (the error, redacted).
   */
  tryAcquire(): Promise<LeaderStatus>;
  release(): Promise<void>;
}

export type LeaderStatus = { kind: 'leading' } | { kind: 'other' } | { kind: 'unreachable'; error: string };

const LOCK_CLASS = 2002;

/** The leader lock on a server: a session advisory lock, per schema, on a connection of its own. */
export function postgresLeaderLock(
  url: string,
  schema = 'public',
  opts: { connectTimeoutSec?: number } = {},
): LeaderLock {
  const socket = noDelaySockets();
  // `socket` is a documented porsager option its type definitions lack.
  const options: postgres.Options<Record<string, never>> & { socket: typeof socket } = {
    max: 1,
    idle_timeout: 0,
    connect_timeout: opts.connectTimeoutSec ?? 5,
    onnotice: () => {},
    backoff: reconnectBackoff,
    socket,
    connection: { application_name: 'gpu-scaler-leader' },
  };
  const sql = postgres(url, options);
  const secrets = secretValues({ url }, ['url']);
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
          if (held) return { kind: 'leading' };
        }
        const [row] = await sql`select pg_try_advisory_lock(${LOCK_CLASS}, ${key}) as ok`;
        held = row.ok === true;
        return held ? { kind: 'leading' } : { kind: 'other' };
      } catch (err) {
        held = false;
        return { kind: 'unreachable', error: redactSecrets(describeError(err), secrets) };
      }
    },
    async release() {
      try {
        if (held) await sql`select pg_advisory_unlock(${LOCK_CLASS}, ${key})`;
      } catch {
        /* the connection is gone, and the lock with it */
      }
      held = false;
      try {
        await sql.end({ timeout: 2 });
      } finally {
        socket.closeAll();
      }
    },
  };
}
