import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import postgres from 'postgres';
import { describeError } from '../logging/errors-file';
import { redactSecrets, secretValues } from '../logging/redact';
import { quoteIdent } from './db';
import { noDelaySockets, reconnectBackoff } from './db-postgres';

/**
 * One leader per store: two controllers started against the same database must never both act.
 * On a server the leader holds the store's lease row (migrations/0013_controller_lease.sql) from a
 * connection of its own: the row names this lock's id and that connection's backend pid, and the
 * lease is renewed every cycle and, while held, every third of its length in the background.
 * Another controller (trying every cycle) takes it when it is free, expired, or its holder's backend
 * is gone: if the process dies, the server drops its connection and a follower takes over within a
 * cycle, as it did with the advisory lock this replaced. Only gpu_scaler_writer may update the row,
 * so the read-only login cannot take or hold leadership (an advisory lock needs no grant: the
 * reader could take it first, and every controller stood by). An embedded store is locked by its
 * data directory instead (dir-lock.ts), so a second process cannot even open it.
 */
export interface LeaderLock {
  /**
   * Becomes or stays the leader. `leading` while this process holds the lease; `other` when another
   * controller holds it; `unreachable` when the database could not be asked (the error, redacted).
   */
  tryAcquire(): Promise<LeaderStatus>;
  release(): Promise<void>;
}

export type LeaderStatus = { kind: 'leading' } | { kind: 'other' } | { kind: 'unreachable'; error: string };

/** How long a lease lasts without renewal (a leader cut off from the database loses it after this). */
export const DEFAULT_LEASE_SEC = 60;

/** The leader lock on a server: the lease row of `schema`, taken and renewed on a connection of its own. */
export function postgresLeaderLock(
  url: string,
  schema = 'public',
  opts: { connectTimeoutSec?: number; leaseSec?: number } = {},
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
  const leaseSec = opts.leaseSec ?? DEFAULT_LEASE_SEC;
  const holder = `${hostname()}:${process.pid}:${randomUUID()}`;
  const table = `${quoteIdent(schema)}.controller_lease`;
  let held = false;
  let renewer: NodeJS.Timeout | undefined;
  /**
   * Takes or renews the lease in one statement: it is ours already, free, expired, or its holder's
   * backend is gone. Concurrent takers are serialised by the row lock, and the second re-checks the
   * row the first wrote (so it finds it taken).
   */
  const take = async (): Promise<boolean> => {
    const rows = await sql.unsafe(
      `update ${table} l
          set holder = $1, holder_pid = pg_backend_pid(),
              acquired_at = case when l.holder = $1 then l.acquired_at else now() end,
              renewed_at = now(), expires_at = now() + make_interval(secs => $2)
        where l.name = 'controller'
          and (l.holder = $1 or l.holder is null or l.expires_at < now()
               or not exists (select 1 from pg_stat_activity a where a.pid = l.holder_pid))
        returning 1 as ok`,
      [holder, leaseSec],
    );
    return rows.length === 1;
  };
  const stopRenewing = () => {
    if (renewer) clearInterval(renewer);
    renewer = undefined;
  };
  return {
    async tryAcquire() {
      try {
        held = await take();
        if (held && !renewer) {
          renewer = setInterval(
            () => {
              take().then(
                (ok) => {
                  held = ok;
                  if (!ok) stopRenewing();
                },
                () => {},
              );
            },
            Math.max(1000, (leaseSec * 1000) / 3),
          );
          renewer.unref();
        }
        if (!held) stopRenewing();
        return held ? { kind: 'leading' } : { kind: 'other' };
      } catch (err) {
        held = false;
        stopRenewing();
        return { kind: 'unreachable', error: redactSecrets(describeError(err), secrets) };
      }
    },
    async release() {
      stopRenewing();
      try {
        if (held) {
          await sql.unsafe(
            `update ${table} set holder = null, holder_pid = null, expires_at = '-infinity'
              where name = 'controller' and holder = $1`,
            [holder],
          );
        }
      } catch {
        /* the connection is gone: the lease frees itself (its backend is gone, or it expires) */
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
