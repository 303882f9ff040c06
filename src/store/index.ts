import type { EventRegistry } from '../../events/registry';
import type { Db } from './db';
import { EventStore } from './event-store';
import { migrate } from './migrator';
import { openDb, parseDatabaseUrl, type StoreTarget } from './open';

export { ConcurrencyError, EventIdConflictError, type ExpectedVersion } from './errors';
export { type Checkpoint, EventStore, type NewEvent, START, type StoredEvent } from './event-store';
export { Subscription } from './subscription';

export interface OpenStoreOptions {
  registry: EventRegistry;
  /** Where: a parsed target, or a DATABASE_URL string (undefined = the embedded default). */
  target?: StoreTarget | string;
  schema?: string;
  applicationName?: string;
  /** Bridge NOTIFY from other processes into store.signals (default true). */
  listen?: boolean;
  /** Values no appended event may hold (see EventStore.setSecrets). */
  secrets?: readonly string[];
}

/** Opens the database, applies pending migrations and returns the event store. */
export async function openStore(opts: OpenStoreOptions): Promise<EventStore> {
  const target = typeof opts.target === 'object' ? opts.target : parseDatabaseUrl(opts.target);
  const db = await openDb(target, { schema: opts.schema, applicationName: opts.applicationName });
  const store = await storeOn(db, opts.registry, opts.listen ?? true);
  if (opts.secrets) store.setSecrets(opts.secrets);
  return store;
}

/** Migrates an open database and wraps it in an event store. */
export async function storeOn(db: Db, registry: EventRegistry, listen = true): Promise<EventStore> {
  try {
    await migrate(db);
    const store = new EventStore(db, registry);
    if (listen) await store.listen();
    return store;
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
