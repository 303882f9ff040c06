/**
 * The one database interface the rest of gpu-scaler talks to. Two backends implement it:
 * `db-postgres.ts` (porsager `postgres`, a real server) and `db-pglite.ts` (embedded PGlite).
 * Every query is plain SQL with $1..$n parameters, identical on both.
 *
 * Conventions that keep the two backends interchangeable:
 * - int8 columns come back as JS numbers (positions stay far below 2^53);
 * - jsonb parameters are passed as JSON text and cast in SQL: `$1::text::jsonb`;
 * - xid8 values are read as text (`tx_id::text`) and passed back as `$1::xid8`.
 */
export type Row = Record<string, unknown>;

export interface Sql {
  /** Runs one statement with parameters and returns its rows. */
  query<T = Row>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a script of one or more statements without parameters. */
  exec(script: string): Promise<void>;
  /**
   * COPY FROM STDIN: loads `data` (COPY's text format, see copy-text.ts) into `table` (quoted,
   * may be schema-qualified). All of it or, on an error, none (the statement fails whole).
   */
  copyIn(table: string, columns: readonly string[], data: string | Buffer): Promise<void>;
}

export type Notify = (payload: string) => void;

export interface Db extends Sql {
  readonly kind: 'postgres' | 'pglite' | 'memory';
  /** The schema every unqualified name resolves to (search_path). */
  readonly schema: string;
  /** Runs fn in one transaction: committed when fn resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /** Subscribes to a NOTIFY channel; resolves to an unsubscribe function. */
  listen(channel: string, onNotify: Notify): Promise<() => Promise<void>>;
  /**
   * Closes every connection. `graceSec`: how long queries still running may take before their
   * connections are closed at once (a server: default 5 s; 0 at a service's stop).
   */
  close(opts?: { graceSec?: number }): Promise<void>;
}

/** A Postgres error as both drivers report it. */
export interface PgError extends Error {
  code?: string;
  detail?: string;
  constraint?: string;
  constraint_name?: string;
}

export function pgErrorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as PgError).code : undefined;
}

export function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) {
    throw new Error(`invalid schema name "${name}": use letters, digits and _ (at most 63), not starting with a digit`);
  }
  return `"${name}"`;
}
