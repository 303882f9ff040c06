import type { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import type { EventDefinition } from '../../events/define';
import type { EventRegistry } from '../../events/registry';
import type { Db } from '../../src/store/db';
import { createPglite, openPgliteDb } from '../../src/store/db-pglite';
import { openPostgresDb } from '../../src/store/db-postgres';
import type { EventStore } from '../../src/store/event-store';
import { storeOn } from '../../src/store/index';
import { MemoryDb, MemoryEventStore } from '../../src/store/memory';

/**
 * A backend under test. Each `open()` gives a fresh, migrated schema; PGlite shares one instance
 * per test file (a fresh PGlite takes seconds), the server one database with a schema per store.
 * The memory backend gives a fresh MemoryEventStore (what `gpu-scaler simulate` runs on).
 */
export interface TestBackend {
  name: 'pglite' | 'postgres' | 'memory';
  /** True where two transactions can really be open at once (the server). */
  concurrent: boolean;
  openDb(schema?: string): Promise<Db>;
  open<D extends EventDefinition>(registry: EventRegistry<D>, schema?: string): Promise<EventStore<D>>;
  /**
   * Starts what the backend runs on (PGlite: its database, seconds of CPU), so that a beforeAll
   * pays for it rather than the first test's timeout. Optional: open() starts it too.
   */
  ready?(): Promise<void>;
  /** Closes every connection of the stores opened so far (simulates a network drop); server only. */
  dropConnections?(): Promise<number>;
  teardown(): Promise<void>;
}

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

let counter = 0;
export function freshSchema(prefix = 't'): string {
  counter += 1;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter}`;
}

/**
 * A database of its own on TEST_DATABASE_URL's server, for tests that run the service in processes
 * of its own (named `<prefix>_<pid>_<time>`): its URL, and drop() (with force: a killed process's
 * connections may linger), which also ends the admin connection.
 */
export async function serverDatabase(prefix: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = postgres(TEST_DATABASE_URL as string, { max: 1, onnotice: () => {} });
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}`;
  await admin.unsafe(`create database ${name}`);
  const u = new URL(TEST_DATABASE_URL as string);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

export function pgliteBackend(): TestBackend {
  let instance: PGlite | undefined;
  const schemas: string[] = [];
  const get = async () => {
    instance ??= await createPglite();
    return instance;
  };
  return {
    name: 'pglite',
    concurrent: false,
    async openDb(schema = freshSchema()) {
      schemas.push(schema);
      return openPgliteDb({ instance: await get(), schema });
    },
    async open(registry, schema) {
      return storeOn(await this.openDb(schema), registry);
    },
    async ready() {
      await get();
    },
    async teardown() {
      if (instance) await instance.close();
      instance = undefined;
    },
  };
}

/**
 * The in-memory store of `gpu-scaler simulate`: no SQL, no migrations (its `openDb` is a bare
 * MemoryDb, which answers only the statements the store and the projections send).
 */
export function memoryBackend(): TestBackend {
  return {
    name: 'memory',
    concurrent: false,
    async openDb() {
      return new MemoryDb();
    },
    async open<D extends EventDefinition>(registry: EventRegistry<D>): Promise<EventStore<D>> {
      // MemoryEventStore is typed for the application's events; what it stores is the registry's.
      return new MemoryEventStore(registry) as unknown as EventStore<D>;
    },
    async teardown() {},
  };
}

export function postgresBackend(url = TEST_DATABASE_URL as string): TestBackend {
  const appName = `gpu-scaler-test-${process.pid}-${++counter}`;
  const schemas: string[] = [];
  const dbs: Db[] = [];
  return {
    name: 'postgres',
    concurrent: true,
    async openDb(schema = freshSchema()) {
      schemas.push(schema);
      const db = await openPostgresDb({ url, schema, applicationName: appName, max: 12 });
      dbs.push(db);
      return db;
    },
    async open(registry, schema) {
      return storeOn(await this.openDb(schema), registry);
    },
    async dropConnections() {
      const admin = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const rows = await admin`select pg_terminate_backend(pid) as ok from pg_stat_activity
                                   where application_name = ${appName} and pid <> pg_backend_pid()`;
        return rows.length;
      } finally {
        await admin.end();
      }
    },
    async teardown() {
      for (const db of dbs) await db.close().catch(() => {});
      const admin = postgres(url, { max: 1, onnotice: () => {} });
      try {
        for (const s of schemas) await admin.unsafe(`drop schema if exists "${s}" cascade`);
      } finally {
        await admin.end();
      }
    },
  };
}
