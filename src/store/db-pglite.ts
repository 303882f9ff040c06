import fs from 'node:fs';
import path from 'node:path';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
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

/**
 * For the test suite only: GPU_SCALER_PGLITE_TEMPLATE names a tarball (PGlite's dumpDataDir) of a
 * freshly initialised, empty cluster (test/helpers/pglite-template.js makes it once per PGlite
 * version). A new database (in memory, or a directory that holds none yet) is then loaded from it
 * instead of running initdb, and every PGlite of the process shares one compiled WebAssembly build
 * instead of compiling its own: together seconds of CPU per database. Nothing else differs: the
 * template holds no migration, so a store migrates itself as before. Unset, as in production,
 * this file creates PGlite exactly as PGlite does by default.
 */
export const PGLITE_TEMPLATE_ENV = 'GPU_SCALER_PGLITE_TEMPLATE';

type WasmModule = NonNullable<PGliteOptions['pgliteWasmModule']>;

interface Prebuilt {
  file: string;
  tarball: Buffer;
  options: Pick<PGliteOptions, 'pgliteWasmModule' | 'initdbWasmModule' | 'fsBundle'>;
}

let prebuilt: Promise<Prebuilt> | undefined;

async function loadPrebuilt(file: string): Promise<Prebuilt> {
  // lib ES2022 does not declare WebAssembly; node has it
  const wasm = (globalThis as unknown as { WebAssembly: { compile(b: Uint8Array): Promise<WasmModule> } }).WebAssembly;
  const dist = path.dirname(require.resolve('@electric-sql/pglite'));
  const [pgliteWasmModule, initdbWasmModule] = await Promise.all(
    ['pglite.wasm', 'initdb.wasm'].map((f) => wasm.compile(fs.readFileSync(path.join(dist, f)))),
  );
  const fsBundle = new Blob([fs.readFileSync(path.join(dist, 'pglite.data'))]);
  return { file, tarball: fs.readFileSync(file), options: { pgliteWasmModule, initdbWasmModule, fsBundle } };
}

async function testOptions(dataDir?: string): Promise<Partial<PGliteOptions>> {
  const file = process.env[PGLITE_TEMPLATE_ENV];
  if (!file) return {};
  if (!prebuilt || (await prebuilt).file !== file) prebuilt = loadPrebuilt(file);
  const { tarball, options } = await prebuilt;
  const exists = dataDir !== undefined && fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  return exists ? options : { ...options, loadDataDir: new Blob([tarball]) };
}

/** Creates the PGlite instance with the parsers that match the postgres backend. */
export async function createPglite(dataDir?: string): Promise<PGlite> {
  const test = await testOptions(dataDir);
  // PGlite reads no options from its second argument when the first is undefined: an in-memory
  // database has always had PGlite's own int8 parser (the same numbers up to 2^53). Kept so.
  const pg =
    dataDir === undefined
      ? new PGlite(test)
      : new PGlite(dataDir, { parsers: { 20: (x: string) => Number(x) }, ...test });
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
