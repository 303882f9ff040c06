import { PGlite } from '@electric-sql/pglite';
import { type Db, type Notify, quoteIdent, type Row, type Sql } from './db';

export interface PgliteDbOptions {
  /** A directory to persist in, or undefined for a throwaway in-memory database. */
  dataDir?: string;
  schema?: string;
}

/** Shared instances, keyed by data directory: PGlite is one connection, opening it twice would corrupt it. */
function executor(pg: { query: PGlite['query']; exec: PGlite['exec'] }): Sql {
  return {
    async query<T = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      const res = await pg.query<T>(text, params as unknown[]);
      return res.rows;
    },
    async exec(script: string): Promise<void> {
      await pg.exec(script);
    },
    async copyIn(table: string, columns: readonly string[], data: string | Buffer): Promise<void> {
      // PGlite reads COPY data from a blob it is handed as /dev/blob.
      await pg.query(`copy ${table} (${columns.join(', ')}) from '/dev/blob'`, [], { blob: new Blob([data]) });
    },
  };
}

/** Creates the PGlite instance with the parsers that match the postgres backend. */
export async function createPglite(dataDir?: string): Promise<PGlite> {
  const pg = new PGlite(dataDir, { parsers: { 20: (x: string) => Number(x) } });
  await pg.waitReady;
  return pg;
}

/**
 * Embedded Postgres (PGlite). Pass `instance` to share one PGlite between several stores
 * (tests use one instance per file and a schema per test); it is then left open on close.
 */
export async function openPgliteDb(opts: PgliteDbOptions & { instance?: PGlite } = {}): Promise<Db> {
  const schema = opts.schema ?? 'public';
  quoteIdent(schema);
  const owned = !opts.instance;
  const pg = opts.instance ?? (await createPglite(opts.dataDir));
  const searchPath = quoteIdent(schema);
  // PGlite is a single connection: set the search path before every use, since another store may share it.
  const ensurePath = () => pg.exec(`set search_path to ${searchPath}`);
  await ensurePath();
  const base = executor(pg);
  const shared = !owned;
  return {
    kind: 'pglite',
    schema,
    async query<T = Row>(text: string, params?: readonly unknown[]) {
      if (shared) await ensurePath();
      return base.query<T>(text, params);
    },
    async exec(script: string) {
      if (shared) await ensurePath();
      return base.exec(script);
    },
    async copyIn(table: string, columns: readonly string[], data: string | Buffer) {
      if (shared) await ensurePath();
      return base.copyIn(table, columns, data);
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      if (shared) await ensurePath();
      return pg.transaction((tx) => fn(executor(tx)));
    },
    async listen(channel: string, onNotify: Notify) {
      const unlisten = await pg.listen(channel, onNotify);
      return async () => {
        await unlisten();
      };
    },
    async close() {
      if (owned) await pg.close();
    },
  };
}
