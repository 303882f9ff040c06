import type { EventDefinition } from '../../events/define';
import type { AppEventDefinition } from '../../events/index';
import type { EventRegistry } from '../../events/registry';
import type { Db } from './db';
import { EventStore } from './event-store';
import { migrate, migrationStatus, pendingError } from './migrator';
import { openDb, parseDatabaseUrl, type StoreTarget } from './open';

export { ConcurrencyError, EventIdConflictError, type ExpectedVersion } from './errors';
export { type Checkpoint, type EventEnvelope, EventStore, type NewEvent, START, type StoredEvent } from './event-store';
export { Subscription } from './subscription';

export interface OpenStoreOptions<D extends EventDefinition = AppEventDefinition> {
  registry: EventRegistry<D>;
  /** Where: a parsed target, or a DATABASE_URL string (undefined = the embedded default). */
  target?: StoreTarget | string;
  schema?: string;
  applicationName?: string;
  /** Bridge NOTIFY from other processes into store.signals (default true). */
  listen?: boolean;
  /**
   * Apply pending migrations (default true; a user that does not own the tables gets an error
   * saying what to run). false: only check that they are applied (a reader login).
   */
  migrate?: boolean;
  /** Values no appended event may hold (see EventStore.setSecrets). */
  secrets?: readonly string[];
}

/** Opens the database, applies pending migrations and returns the event store. */
export async function openStore<D extends EventDefinition>(opts: OpenStoreOptions<D>): Promise<EventStore<D>> {
  const target = typeof opts.target === 'object' ? opts.target : parseDatabaseUrl(opts.target);
  const db = await openDb(target, { schema: opts.schema, applicationName: opts.applicationName });
  const store = await storeOn(db, opts.registry, opts.listen ?? true, opts.migrate ?? true);
  if (opts.secrets) store.setSecrets(opts.secrets);
  return store;
}

/** Migrates an open database (or, with migrate false, checks it is migrated) and wraps it in an event store. */
export async function storeOn<D extends EventDefinition>(
  db: Db,
  registry: EventRegistry<D>,
  listen = true,
  migrateFirst = true,
): Promise<EventStore<D>> {
  try {
    if (migrateFirst) await migrate(db);
    else {
      const status = await migrationStatus(db);
      if (status.pending.length > 0) throw pendingError({ ...status, mayMigrate: false });
    }
    const store = new EventStore(db, registry);
    if (listen) await store.listen();
    return store;
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
