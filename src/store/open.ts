import fs from 'node:fs';
import path from 'node:path';
import type { Db } from './db';
import { openPgliteDb } from './db-pglite';
import { openPostgresDb } from './db-postgres';
import { acquireDirLock } from './dir-lock';

const DEFAULT_DATA_DIR = './.gpu-scaler/db';

export type StoreTarget = { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDir: string } | { kind: 'memory' };

/**
 * Reads DATABASE_URL:
 * - unset or empty: embedded PGlite persisted in ./.gpu-scaler/db
 * - postgres://… or postgresql://…: a PostgreSQL server
 * - pglite:///abs/dir or pglite://./rel/dir: embedded PGlite in that directory
 * - memory://: a throwaway in-memory PGlite
 */
export function parseDatabaseUrl(url: string | undefined, cwd = process.cwd()): StoreTarget {
  const value = (url ?? '').trim();
  if (value === '') return { kind: 'pglite', dataDir: path.resolve(cwd, DEFAULT_DATA_DIR) };
  if (/^postgres(ql)?:\/\//i.test(value)) return { kind: 'postgres', url: value };
  if (/^memory:\/\/\/?$/i.test(value)) return { kind: 'memory' };
  const m = /^pglite:\/\/(.+)$/i.exec(value);
  if (m) {
    const dir = m[1];
    // pglite:///abs/dir -> "/abs/dir"; pglite://./rel or pglite://rel -> relative to cwd
    return { kind: 'pglite', dataDir: path.resolve(cwd, dir) };
  }
  throw new Error(
    `DATABASE_URL "${redactUrl(value)}" is not understood: use postgres://user:pass@host:port/db for a server, ` +
      'pglite:///absolute/dir or pglite://./relative/dir for an embedded store, memory:// for a throwaway one, ' +
      `or leave it unset for the embedded store in ${DEFAULT_DATA_DIR}`,
  );
}

/** Hides the password of a URL so it can be logged. */
function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

export function describeTarget(t: StoreTarget): string {
  if (t.kind === 'postgres') return `postgres ${redactUrl(t.url)}`;
  if (t.kind === 'pglite') return `embedded PGlite in ${t.dataDir}`;
  return 'embedded PGlite in memory (throwaway)';
}

export interface OpenDbOptions {
  schema?: string;
  applicationName?: string;
  max?: number;
}

export async function openDb(target: StoreTarget, opts: OpenDbOptions = {}): Promise<Db> {
  if (target.kind === 'postgres') {
    return openPostgresDb({
      url: target.url,
      schema: opts.schema,
      max: opts.max,
      applicationName: opts.applicationName,
    });
  }
  if (target.kind === 'memory') return openPgliteDb({ schema: opts.schema });
  fs.mkdirSync(target.dataDir, { recursive: true });
  // PGlite is a single-process database: a second process opening the directory would corrupt it.
  const release = acquireDirLock(target.dataDir);
  try {
    const db = await openPgliteDb({ dataDir: target.dataDir, schema: opts.schema });
    const close = db.close.bind(db);
    return {
      ...db,
      async close() {
        try {
          await close();
        } finally {
          release();
        }
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}
