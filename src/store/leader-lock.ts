import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import postgres from 'postgres';
import { DEFAULT_POOL } from '../../events/common';
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

/** A pool's lease row: `controller` for pool default (as before pools), `controller@<pool>` for the others. */
export const leaseName = (pool: string): string => (pool === DEFAULT_POOL ? 'controller' : `controller@${pool}`);

/** Who runs what, as one replica sees it: the live replicas and each pool's live holder. */
export type LeaseSurvey =
  | { kind: 'ok'; replicas: string[]; holders: Record<string, string | null> }
  | { kind: 'unreachable'; error: string };

/**
 * The leases of every pool, held by one replica from one connection of its own (each lease row
 * names this replica's id and that connection's backend pid, so a killed process frees all of its
 * pools at once), and this replica's heartbeat row (migrations/0022_controller_replicas.sql).
 */
export interface PoolLeases {
  /** This replica's id: the holder its lease rows name. */
  readonly replica: string;
  /** Renews the heartbeat; the live replicas and who holds each pool. */
  survey(): Promise<LeaseSurvey>;
  /** Takes or renews the leases of `pools` (each free, expired, ours or its holder gone): the pools held now. */
  tryAcquire(
    pools: readonly string[],
  ): Promise<{ kind: 'ok'; held: Set<string> } | { kind: 'unreachable'; error: string }>;
  /** Gives up these pools' leases (a replica with room takes them). */
  release(pools: readonly string[]): Promise<void>;
  /** Gives up every lease and the heartbeat, and closes the connection. */
  close(): Promise<void>;
}

/** Every pool's lease on a server: the lease rows of `schema`, taken and renewed on a connection of its own. */
export function postgresLeases(
  url: string,
  schema: string,
  pools: readonly string[],
  opts: { connectTimeoutSec?: number; leaseSec?: number } = {},
): PoolLeases {
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
  const unreachable = (err: unknown) => ({
    kind: 'unreachable' as const,
    error: redactSecrets(describeError(err), secrets),
  });
  const leaseSec = opts.leaseSec ?? DEFAULT_LEASE_SEC;
  const replica = `${hostname()}:${process.pid}:${randomUUID()}`;
  const leases = `${quoteIdent(schema)}.controller_lease`;
  const replicas = `${quoteIdent(schema)}.controller_replicas`;
  const poolOf = new Map(pools.map((p) => [leaseName(p), p]));
  const names = (ps: readonly string[]) => ps.map(leaseName);
  /** The pools held (renewed in the background while held). */
  let held = new Set<string>();
  let rowsMade = false;
  let renewer: NodeJS.Timeout | undefined;
  /** A holder is live while its lease has not expired and its connection's backend exists. */
  const live = (alias: string, pid: string) =>
    `${alias}.expires_at > now() and exists (select 1 from pg_stat_activity a where a.pid = ${alias}.${pid})`;
  /**
   * Takes or renews leases in one statement: each ours already, free, expired, or its holder's
   * backend gone. Rows are locked in name order and a row another replica is taking is skipped (it
   * is that replica's), so concurrent takers never wait on each other or deadlock.
   */
  const take = async (ps: readonly string[]): Promise<Set<string>> => {
    if (!rowsMade) {
      await sql.unsafe(`insert into ${leases} (name) select unnest($1::text[]) on conflict (name) do nothing`, [
        names(pools),
      ]);
      rowsMade = true;
    }
    if (ps.length === 0) return new Set();
    const rows = await sql.unsafe(
      `with free as (
         select l.name from ${leases} l
          where l.name = any($3::text[])
            and (l.holder = $1 or l.holder is null or not (${live('l', 'holder_pid')}))
          order by l.name for update skip locked)
       update ${leases} l
          set holder = $1, holder_pid = pg_backend_pid(),
              acquired_at = case when l.holder = $1 then l.acquired_at else now() end,
              renewed_at = now(), expires_at = now() + make_interval(secs => $2)
         from free where l.name = free.name
       returning l.name`,
      [replica, leaseSec, names(ps)],
    );
    return new Set(rows.map((r) => poolOf.get(String(r.name)) ?? String(r.name)));
  };
  const beat = () =>
    sql.unsafe(
      `insert into ${replicas} (replica, backend_pid, expires_at)
       values ($1, pg_backend_pid(), now() + make_interval(secs => $2))
       on conflict (replica) do update
         set backend_pid = excluded.backend_pid, renewed_at = now(), expires_at = excluded.expires_at`,
      [replica, leaseSec],
    );
  const stopRenewing = () => {
    if (renewer) clearInterval(renewer);
    renewer = undefined;
  };
  // While held, the leases and the heartbeat are renewed every third of the lease as well as every cycle.
  const keepRenewing = () => {
    if (held.size === 0) return stopRenewing();
    if (renewer) return;
    renewer = setInterval(
      () => {
        Promise.all([take([...held]), beat()]).then(
          ([now]) => {
            // only pools still held: one handed over (released) while this renewal was in flight stays given up
            held = new Set([...now].filter((p) => held.has(p)));
            if (held.size === 0) stopRenewing();
          },
          () => {},
        );
      },
      Math.max(1000, (leaseSec * 1000) / 3),
    );
    renewer.unref();
  };
  return {
    replica,
    async survey() {
      try {
        await beat();
        // replicas gone an hour are forgotten
        await sql.unsafe(`delete from ${replicas} where expires_at < now() - interval '1 hour'`);
        const alive = await sql.unsafe(`select r.replica from ${replicas} r where ${live('r', 'backend_pid')}`);
        const holders = await sql.unsafe(
          `select l.name, l.holder from ${leases} l where l.holder is not null and ${live('l', 'holder_pid')}`,
        );
        const byPool: Record<string, string | null> = Object.fromEntries(pools.map((p) => [p, null]));
        for (const h of holders) {
          const pool = poolOf.get(String(h.name));
          if (pool !== undefined) byPool[pool] = String(h.holder);
        }
        const ids = alive.map((r) => String(r.replica));
        return { kind: 'ok', replicas: ids.includes(replica) ? ids : [...ids, replica], holders: byPool };
      } catch (err) {
        return unreachable(err);
      }
    },
    async tryAcquire(ps) {
      try {
        held = await take(ps);
        keepRenewing();
        return { kind: 'ok', held: new Set(held) };
      } catch (err) {
        held = new Set();
        stopRenewing();
        return unreachable(err);
      }
    },
    async release(ps) {
      for (const p of ps) held.delete(p);
      keepRenewing();
      await sql.unsafe(
        `update ${leases} set holder = null, holder_pid = null, expires_at = '-infinity'
          where name = any($2::text[]) and holder = $1`,
        [replica, names(ps)],
      );
    },
    async close() {
      stopRenewing();
      try {
        await sql.unsafe(
          `update ${leases} set holder = null, holder_pid = null, expires_at = '-infinity' where holder = $1`,
          [replica],
        );
        await sql.unsafe(`delete from ${replicas} where replica = $1`, [replica]);
      } catch {
        /* the connection is gone: the leases free themselves (their backend is gone, or they expire) */
      }
      held = new Set();
      try {
        await sql.end({ timeout: 2 });
      } finally {
        socket.closeAll();
      }
    },
  };
}

/** An embedded store is one process (its data directory is locked): it leads every pool. */
export function embeddedLeases(pools: readonly string[]): PoolLeases {
  const replica = `${hostname()}:${process.pid}`;
  return {
    replica,
    survey: async () => ({ kind: 'ok', replicas: [replica], holders: Object.fromEntries(pools.map((p) => [p, null])) }),
    tryAcquire: async (ps) => ({ kind: 'ok', held: new Set(ps) }),
    release: async () => {},
    close: async () => {},
  };
}

/** The leader lock of one pool on a server (the lease of pool default unless `pool` says otherwise). */
export function postgresLeaderLock(
  url: string,
  schema = 'public',
  opts: { connectTimeoutSec?: number; leaseSec?: number; pool?: string } = {},
): LeaderLock {
  const pool = opts.pool ?? DEFAULT_POOL;
  const leases = postgresLeases(url, schema, [pool], opts);
  return {
    async tryAcquire() {
      const status = await leases.tryAcquire([pool]);
      if (status.kind === 'unreachable') return status;
      return status.held.has(pool) ? { kind: 'leading' } : { kind: 'other' };
    },
    release: () => leases.close(),
  };
}
