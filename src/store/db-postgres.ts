import net from 'node:net';
import type { Writable } from 'node:stream';
import postgres from 'postgres';
import { type Db, type Notify, quoteIdent, type Row, type Sql } from './db';

export interface PostgresDbOptions {
  url: string;
  schema?: string;
  /** Connections in the pool (default 10). */
  max?: number;
  applicationName?: string;
  /** A client made by postgresClient() to run on (the benchmark shares it with its raw side). */
  client?: Client;
}

export type Client = postgres.Sql<Record<string, never>>;

function executor(sql: Client | postgres.TransactionSql<Record<string, never>>): Sql {
  return {
    async query<T = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true });
      return rows as unknown as T[];
    },
    async exec(script: string): Promise<void> {
      await sql.unsafe(script);
    },
    copyIn: (table, columns, data) => copyIn(sql, `copy ${table} (${columns.join(', ')}) from stdin`, data),
  };
}

/** The part of porsager's query object copyIn relies on (see below). */
interface CopyQuery {
  reject?: (err: unknown) => void;
  writable(): Promise<Writable>;
}

/**
 * COPY FROM STDIN through porsager's writable stream. porsager does not report an error the
 * server raises after the data was sent (it arrives once the stream has ended): the stream then
 * neither finishes nor fails, and a caller would wait forever. So the query's reject (where
 * porsager delivers that error) is wrapped to fail the copy too. A test (db-copy) holds this to
 * porsager's behaviour: a bad row must come back as the server's error, not as a hang.
 */
async function copyIn(
  sql: Client | postgres.TransactionSql<Record<string, never>>,
  statement: string,
  data: string | Buffer,
) {
  const query = sql.unsafe(statement) as unknown as CopyQuery;
  if (typeof query.reject !== 'function') {
    throw new Error('copyIn: this version of the postgres driver has no query.reject to watch; see db-postgres.ts');
  }
  let fail: ((err: unknown) => void) | undefined;
  let early: unknown;
  const reject = query.reject;
  query.reject = (err: unknown) => {
    if (fail) fail(err);
    else early = err;
    reject(err);
  };
  const writable = await query.writable();
  await new Promise<void>((resolve, rejectCopy) => {
    if (early) return rejectCopy(early);
    fail = rejectCopy;
    writable.once('error', rejectCopy);
    writable.once('finish', resolve);
    writable.end(data);
  });
}

/** What porsager passes to a `socket` factory: its parsed options. */
interface SocketOptions {
  host: string[];
  port: number[];
  path?: string | false;
}

/** A socket factory for porsager that can close every socket it made (see closeAll). */
export interface SocketFactory {
  (o: SocketOptions): net.Socket;
  /**
   * Destroys every socket still open and makes any later one fail at once. porsager's end() leaves
   * behind a socket that was still connecting when it was called (its terminate() only ends an
   * open socket): after a server restart, the LISTEN connection reconnects by itself, and a stop
   * at that moment left that socket open, holding the process alive after "stopped".
   */
  closeAll(): void;
}

/**
 * Connections with Nagle's algorithm off. porsager leaves it on, and a COPY is written in pieces
 * (the data, then CopyDone): with Nagle the kernel holds each small piece until the server
 * acknowledges the one before, which the server delays (delayed ACK, tens of ms), so every COPY
 * would wait that long whatever its size. Queries are written in one piece and are not delayed.
 *
 * porsager treats a socket from the factory as its own: it wraps it in TLS when asked (using
 * `host` for the server name) and calls the factory again to reconnect, so several hosts in the
 * URL are tried in turn here as porsager does itself.
 */
export function noDelaySockets(): SocketFactory {
  let next = 0;
  let closed = false;
  const open = new Set<net.Socket>();
  const factory = (o: SocketOptions) => {
    const i = next++ % o.host.length;
    // porsager reports a factory's error as a failed connection, as it would a refused one
    if (closed) throw new Error('the database client was closed');
    const socket = o.path
      ? net.connect({ path: o.path, noDelay: true })
      : net.connect({ host: o.host[i], port: o.port[i], noDelay: true });
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    return Object.assign(socket, { host: o.host[i], port: o.port[i] });
  };
  return Object.assign(factory, {
    closeAll() {
      closed = true;
      for (const socket of open) socket.destroy();
      open.clear();
    },
  });
}

/**
 * porsager's delay before a connection tries again after failures, in seconds: its own curve
 * (growing 3x per failure, randomised), capped at 1 s instead of its 20 s. Its timer is not cleared
 * by end() and keeps the process alive: after a database restart, or a stop while the database is
 * down, a reconnect scheduled up to 20 s ahead held a stopped service that long (killed by its stop
 * deadline), and a database back up was used only when that timer fired.
 */
export function reconnectBackoff(retries: number): number {
  return Math.min((0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 20), MAX_RECONNECT_DELAY_SEC);
}
const MAX_RECONNECT_DELAY_SEC = 1;

const factories = new WeakMap<object, SocketFactory>();

/** Ends a client made by postgresClient(), then destroys any socket porsager left behind. */
async function endClient(sql: Client, timeoutSec: number): Promise<void> {
  try {
    await sql.end({ timeout: timeoutSec });
  } finally {
    factories.get(sql)?.closeAll();
  }
}

/** A porsager client with the store's settings: search_path on the schema, int8 as a JS number. */
export function postgresClient(opts: PostgresDbOptions): Client {
  const schema = opts.schema ?? 'public';
  quoteIdent(schema);
  const socket = noDelaySockets();
  // `socket` is a documented porsager option its type definitions lack.
  const options: postgres.Options<Record<string, never>> & { socket: SocketFactory } = {
    max: opts.max ?? 10,
    onnotice: () => {},
    backoff: reconnectBackoff,
    socket,
    connection: {
      search_path: schema,
      application_name: opts.applicationName ?? 'gpu-scaler',
      // The store's statements are index probes of a few hundred rows, but on a long record the
      // planner can take one for tens of thousands (the cycle of 100 pools at 10 million events:
      // 39,396 estimated, 205 read) and pass jit_above_cost: compiling it then took 60 to 75 ms
      // of a 17 ms statement. Only these connections; an operator's own psql keeps the server's.
      jit: 'off',
    },
    types: {
      // int8 as a JS number on both backends
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    } as never,
  };
  const client = postgres(opts.url, options) as unknown as Client;
  factories.set(client, socket);
  return client;
}

/** A real PostgreSQL server through porsager's `postgres`. */
export async function openPostgresDb(opts: PostgresDbOptions): Promise<Db> {
  const schema = opts.schema ?? 'public';
  quoteIdent(schema);
  const sql: Client = opts.client ?? postgresClient(opts);
  // Fail early with the server's own message when the URL is wrong.
  await sql`select 1`;
  const base = executor(sql);
  return {
    kind: 'postgres',
    schema,
    ...base,
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      return (await sql.begin((tx) => fn(executor(tx)))) as T;
    },
    async listen(channel: string, onNotify: Notify) {
      const sub = await sql.listen(channel, (payload) => onNotify(payload));
      return async () => {
        await sub.unlisten();
      };
    },
    async close(o = {}) {
      await endClient(sql, o.graceSec ?? 5);
    },
  };
}
