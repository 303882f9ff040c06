import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GpuScalerError } from '../errors';
import { packageRoot } from '../util/package-root';
import { type Db, quoteIdent } from './db';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends GpuScalerError {
  constructor(message: string) {
    super('MIGRATION', message);
    this.name = 'MigrationError';
  }
}

/** Lock key of the migrator (a transaction-scoped advisory lock, so a crash never leaves it held). */
const MIGRATION_LOCK = [1999, 1] as const;

function migrationsDir(): string {
  return path.join(packageRoot(), 'migrations');
}

/** Reads `NNNN_name.sql` files in numeric order. */
export function loadMigrations(dir = migrationsDir()): Migration[] {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const out: Migration[] = [];
  for (const file of files) {
    const m = /^(\d+)_([A-Za-z0-9_-]+)\.sql$/.exec(file);
    if (!m) throw new MigrationError(`migration file "${file}" must be named NNNN_name.sql`);
    const sql = fs.readFileSync(path.join(dir, file), 'utf8');
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new MigrationError(`two migrations have number ${m[1]}`);
    out.push({ version, name: file, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return out;
}

export interface MigrateResult {
  applied: string[];
  current: number;
}

/** Refuses a database whose applied migrations this build does not ship, or ship changed. */
function checkApplied(rows: readonly AppliedRow[], migrations: readonly Migration[]): void {
  for (const row of rows) {
    const local = migrations.find((m) => m.version === row.version);
    if (!local) {
      throw new MigrationError(
        `the database has migration ${row.name} that this build of gpu-scaler does not ship: ` +
          'it was migrated by a newer version; run that version, or restore a matching build',
      );
    }
    if (local.checksum !== row.checksum) {
      throw new MigrationError(
        `migration ${row.name} was changed after it was applied (checksum ${row.checksum.slice(0, 12)} in the ` +
          `database, ${local.checksum.slice(0, 12)} on disk): applied migrations are immutable; ` +
          'restore the file and add a new numbered migration instead',
      );
    }
  }
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

export interface MigrationStatus {
  /** The migrations this build ships that the database has not applied. */
  pending: Migration[];
  /** Whether the connected user may apply them: it owns the schema's tables (or is a superuser). */
  mayMigrate: boolean;
  user: string;
}

/**
 * What is applied, without taking the migration lock or writing anything: a user that may only
 * read and write rows (the service's writer role, the reader) can ask. Throws as migrate() does
 * when an applied file changed or is unknown.
 */
export async function migrationStatus(db: Db, migrations = loadMigrations()): Promise<MigrationStatus> {
  const [state] = await db.query<{ user: string; owns: boolean | null; may_create: boolean; exists: boolean }>(
    `select current_user::text as user,
            to_regclass(format('%I.schema_migrations', $1::text)) is not null as exists,
            (select pg_has_role(current_user, c.relowner, 'USAGE') from pg_class c
              where c.oid = to_regclass(format('%I.schema_migrations', $1::text))) as owns,
            coalesce((select has_schema_privilege(n.oid, 'CREATE') from pg_namespace n where n.nspname = $1),
                     has_database_privilege(current_database(), 'CREATE')) as may_create`,
    [db.schema],
  );
  const rows = state.exists
    ? await db.query<AppliedRow>(
        `select version, name, checksum from ${quoteIdent(db.schema)}.schema_migrations order by version`,
      )
    : [];
  checkApplied(rows, migrations);
  return {
    pending: migrations.filter((m) => !rows.some((r) => r.version === m.version)),
    mayMigrate: state.exists ? state.owns === true : state.may_create,
    user: state.user,
  };
}

/** The error for pending migrations the connected user may not apply. */
export function pendingError(status: MigrationStatus): MigrationError {
  const names = status.pending.map((m) => m.name);
  return new MigrationError(
    `${names.length} migration(s) are not applied (${names.join(', ')}) and the database user "${status.user}" ` +
      'may not apply them (it does not own the tables): run them as the owner, ' +
      'MIGRATE_DATABASE_URL=postgres://<owner>@<host>/<db> gpu-scaler migrate, then start again',
  );
}

/**
 * Applies every pending migration in order in ONE transaction that first takes an advisory lock, so
 * two processes starting at once never race and a migration that fails leaves nothing applied (not
 * the ones before it either): the store is at the version it was, and running migrate again after
 * fixing the cause applies them all. Refuses to start when an applied file has changed or the
 * database knows a migration this build does not. Up to date, it writes nothing and takes no lock;
 * with migrations pending and a user that does not own the tables (the service's writer role), it
 * refuses with what to run instead.
 */
export async function migrate(db: Db, migrations = loadMigrations()): Promise<MigrateResult> {
  const schema = quoteIdent(db.schema);
  const current = migrations.length ? migrations[migrations.length - 1].version : 0;
  const status = await migrationStatus(db, migrations);
  if (status.pending.length === 0) return { applied: [], current };
  if (!status.mayMigrate) throw pendingError(status);
  const applied = await db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1, $2)', [...MIGRATION_LOCK]);
    await tx.exec(
      `create schema if not exists ${schema};
       create table if not exists ${schema}.schema_migrations (
         version    integer     primary key,
         name       text        not null,
         checksum   text        not null,
         applied_at timestamptz not null default now()
       );`,
    );
    const rows = await tx.query<AppliedRow>(
      `select version, name, checksum from ${schema}.schema_migrations order by version`,
    );
    checkApplied(rows, migrations);
    const pending = migrations.filter((m) => !rows.some((r) => r.version === m.version));
    const names: string[] = [];
    for (const next of pending) {
      await tx.exec(`set local search_path to ${schema}`);
      try {
        await tx.exec(next.sql);
      } catch (err) {
        const before = names.length ? ` (${names.join(', ')} were rolled back with it: none is applied)` : '';
        throw new MigrationError(`migration ${next.name} failed: ${(err as Error).message}${before}`);
      }
      await tx.query(`insert into ${schema}.schema_migrations(version, name, checksum) values ($1, $2, $3)`, [
        next.version,
        next.name,
        next.checksum,
      ]);
      names.push(next.name);
    }
    return names;
  });
  return { applied, current };
}

/** The migrations applied to this store, in order, with when. */
export function appliedMigrations(db: Db): Promise<{ name: string; applied_at: Date }[]> {
  return db.query<{ name: string; applied_at: Date }>(
    'select name, applied_at from schema_migrations order by version',
  );
}
