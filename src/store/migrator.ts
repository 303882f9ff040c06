import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../util/package-root';
import { type Db, quoteIdent } from './db';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** Lock key of the migrator (a transaction-scoped advisory lock, so a crash never leaves it held). */
const MIGRATION_LOCK = [1999, 1] as const;

export function migrationsDir(): string {
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

/**
 * Applies pending migrations in order, each in its own transaction that first takes an advisory
 * lock, so two processes starting at once never race. Refuses to start when an applied file has
 * changed or the database knows a migration this build does not.
 */
export async function migrate(db: Db, migrations = loadMigrations()): Promise<MigrateResult> {
  const applied: string[] = [];
  const schema = quoteIdent(db.schema);
  for (;;) {
    const done = await db.transaction(async (tx) => {
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
      const rows = await tx.query<{ version: number; name: string; checksum: string }>(
        `select version, name, checksum from ${schema}.schema_migrations order by version`,
      );
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
      const next = migrations.find((m) => !rows.some((r) => r.version === m.version));
      if (!next) return true;
      await tx.exec(`set local search_path to ${schema}`);
      try {
        await tx.exec(next.sql);
      } catch (err) {
        throw new MigrationError(`migration ${next.name} failed: ${(err as Error).message}`);
      }
      await tx.query(`insert into ${schema}.schema_migrations(version, name, checksum) values ($1, $2, $3)`, [
        next.version,
        next.name,
        next.checksum,
      ]);
      applied.push(next.name);
      return false;
    });
    if (done) break;
  }
  return { applied, current: migrations.length ? migrations[migrations.length - 1].version : 0 };
}
