import postgres from 'postgres';
import { z } from 'zod';
import { defineSettings } from '../settings';
import { type Db, pgErrorCode, type Row } from '../store/db';
import { singleStatement } from '../util/sql-statements';
import type { TaskSource } from './source';

const SQL_SOURCE_DEFAULTS = {
  statementTimeoutMs: 10_000,
  poolMax: 2,
};

export interface SqlSourceOptions {
  /** TASK_COUNT_SQL: one statement returning one row with columns `queued` and `active`. */
  query: string;
  /** TASKS_DATABASE_URL (postgres://…): the source gets its own small pool (max 2). */
  url?: string | null;
  /** Otherwise the store's own database. */
  db?: Pick<Db, 'kind' | 'transaction'>;
  /** `set local statement_timeout` for the query (default 10 s). */
  statementTimeoutMs?: number;
  /** The source's name in events (default `sql`). */
  name?: string;
  applicationName?: string;
}

/** Runs one statement in a read-only transaction with a statement timeout. */
type ReadOnlyRunner = (text: string, timeoutMs: number, signal?: AbortSignal) => Promise<Row[]>;

const SHAPE = 'TASK_COUNT_SQL must return one row with columns queued and active';

/**
 * Counts tasks with an operator's query, against TASKS_DATABASE_URL or the store's own database.
 * The query runs in a READ ONLY transaction with `statement_timeout`, so a slow or writing query
 * cannot hurt; it must be one statement returning exactly one row with `queued` and `active`.
 * Integer-looking strings and bigints become numbers; any other value is passed on unchanged for
 * the controller's validation to reject. No per-worker activity (`workers: null`).
 *
 * On embedded PGlite a running query cannot be interrupted (statement_timeout has no effect in
 * WebAssembly): a query that overran the timeout is reported as an error once it returns.
 */
export class SqlTaskSource implements TaskSource {
  readonly name: string;
  private readonly statement: string;
  private readonly timeoutMs: number;
  private readonly run: ReadOnlyRunner;
  private readonly pool: postgres.Sql<Record<string, never>> | null = null;
  private readonly embedded: boolean;

  constructor(opts: SqlSourceOptions) {
    this.name = opts.name ?? 'sql';
    this.statement = singleStatement(opts.query ?? '', 'TASK_COUNT_SQL');
    this.timeoutMs = opts.statementTimeoutMs ?? SQL_SOURCE_DEFAULTS.statementTimeoutMs;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs <= 0) {
      throw new Error(`the statement timeout must be a positive whole number of ms (got ${this.timeoutMs})`);
    }
    const url = opts.url?.trim();
    if (url) {
      if (!/^postgres(ql)?:\/\//i.test(url)) {
        throw new Error('TASKS_DATABASE_URL must be a postgres:// or postgresql:// URL');
      }
      this.pool = postgres(url, {
        max: SQL_SOURCE_DEFAULTS.poolMax,
        onnotice: () => {},
        idle_timeout: 60,
        connect_timeout: 10,
        connection: { application_name: opts.applicationName ?? 'gpu-scaler-task-source' },
      });
      this.run = poolRunner(this.pool);
      this.embedded = false;
    } else if (opts.db) {
      this.run = dbRunner(opts.db);
      this.embedded = opts.db.kind === 'pglite';
    } else {
      throw new Error('the sql task source needs TASKS_DATABASE_URL or the store database');
    }
  }

  async fetch(opts: { workerIds: string[]; signal?: AbortSignal }): Promise<unknown> {
    const { signal } = opts;
    if (signal?.aborted) throw new Error('TASK_COUNT_SQL was not run: the caller had already given up');
    const started = performance.now();
    let rows: Row[];
    try {
      rows = await this.run(this.statement, this.timeoutMs, signal);
    } catch (err) {
      throw new Error(this.explain(err, signal));
    }
    const took = Math.round(performance.now() - started);
    if (this.embedded && took > this.timeoutMs) {
      throw new Error(
        `TASK_COUNT_SQL took ${took} ms, over its ${this.timeoutMs} ms statement timeout (the embedded database cannot cancel a running query)`,
      );
    }
    if (rows.length !== 1) {
      throw new Error(`${SHAPE}; got ${rows.length === 0 ? 'no rows' : `${rows.length} rows`}`);
    }
    const row = rows[0];
    if (!Object.hasOwn(row, 'queued') || !Object.hasOwn(row, 'active')) {
      const cols = Object.keys(row);
      throw new Error(`${SHAPE}; got ${cols.length ? `columns ${cols.join(', ')}` : 'a row without columns'}`);
    }
    return { queued: toCount(row.queued), active: toCount(row.active), workers: null };
  }

  async close(): Promise<void> {
    await this.pool?.end({ timeout: 5 });
  }

  private explain(err: unknown, signal: AbortSignal | undefined): string {
    const message = (err as Error)?.message ?? String(err);
    const code = pgErrorCode(err);
    if (code === '57014') {
      return signal?.aborted
        ? 'TASK_COUNT_SQL was cancelled: the caller gave up waiting'
        : `TASK_COUNT_SQL was cancelled by its ${this.timeoutMs} ms statement timeout (${message})`;
    }
    if (code === '25006') return `TASK_COUNT_SQL may not write: it runs in a read-only transaction (${message})`;
    return `TASK_COUNT_SQL failed: ${message}`;
  }
}

/**
 * A number for an integer-looking string or a bigint (int8 and numeric arrive as strings unless
 * parsed); anything else unchanged, so validation can reject it.
 */
export function toCount(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return v;
}

function setLocal(timeoutMs: number): string {
  return `set local statement_timeout = ${Math.trunc(timeoutMs)}`;
}

function dbRunner(db: Pick<Db, 'transaction'>): ReadOnlyRunner {
  return (text, timeoutMs) =>
    db.transaction(async (tx) => {
      await tx.exec('set transaction read only');
      await tx.exec(setLocal(timeoutMs));
      return tx.query<Row>(text);
    });
}

function poolRunner(pool: postgres.Sql<Record<string, never>>): ReadOnlyRunner {
  // simple: false keeps the extended protocol, where the server itself refuses a second statement
  const options = { prepare: false, simple: false } as postgres.UnsafeQueryOptions;
  return async (text, timeoutMs, signal) => {
    const rows = await pool.begin('read only', async (tx) => {
      await tx.unsafe(setLocal(timeoutMs));
      const q = tx.unsafe(text, [], options);
      const cancel = () => q.cancel();
      signal?.addEventListener('abort', cancel, { once: true });
      try {
        return await q;
      } finally {
        signal?.removeEventListener('abort', cancel);
      }
    });
    return [...(rows as unknown as Row[])];
  };
}

export function createSqlSource(opts: SqlSourceOptions): SqlTaskSource {
  return new SqlTaskSource(opts);
}

/** TASK_SOURCE=sql settings: validated only when sql is the source. */
export const SQL_SOURCE_SETTINGS = {
  /** A query returning one row with columns queued and active (read-only, with a timeout). */
  TASK_COUNT_SQL: z.string().optional(),
  /** The database to run TASK_COUNT_SQL against (default: the store's own). */
  TASKS_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//i, 'a postgres:// URL')
    .optional(),
};

/** TASK_SOURCE=sql: counts from a query (registered in index.ts). */
export const sqlSourceDefinition = defineSettings({
  name: 'sql',
  settings: SQL_SOURCE_SETTINGS,
  secrets: ['TASKS_DATABASE_URL'],
  check: (s) => (s.TASK_COUNT_SQL ? [] : ['TASK_COUNT_SQL is required with TASK_SOURCE=sql']),
});
