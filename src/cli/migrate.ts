import type { Command } from 'commander';
import { loadMigrations } from '../store/migrator';
import { describeTarget } from '../store/open';
import { type CliIo, withStore } from './context';

export function registerMigrate(program: Command, io: CliIo): void {
  program
    .command('migrate')
    .description(
      'apply pending database migrations, as MIGRATE_DATABASE_URL (the owner of the tables) when set, else ' +
        'DATABASE_URL (every other command also does this first when its user owns the tables)',
    )
    .action(async () => {
      const ownerUrl = io.env.MIGRATE_DATABASE_URL?.trim();
      await withStore(
        io,
        async (store, target) => {
          const rows = await store.db.query<{ name: string; applied_at: Date }>(
            'select name, applied_at from schema_migrations order by version',
          );
          io.stdout.write(`store: ${describeTarget(target)}\n`);
          for (const r of rows) io.stdout.write(`  applied ${r.name} at ${r.applied_at.toISOString()}\n`);
          io.stdout.write(`${rows.length} of ${loadMigrations().length} migrations applied; up to date\n`);
        },
        ownerUrl ? { databaseUrl: ownerUrl } : {},
      );
    });
}
