import type { Command } from 'commander';
import { appRegistry } from '../../events/index';
import { openStore } from '../store/index';
import { loadMigrations } from '../store/migrator';
import { describeTarget, parseDatabaseUrl } from '../store/open';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (every other command does this first)')
    .action(async () => {
      const target = parseDatabaseUrl(process.env.DATABASE_URL);
      const store = await openStore({ target, registry: appRegistry, listen: false });
      try {
        const rows = await store.db.query<{ name: string; applied_at: Date }>(
          'select name, applied_at from schema_migrations order by version',
        );
        process.stdout.write(`store: ${describeTarget(target)}\n`);
        for (const r of rows) process.stdout.write(`  applied ${r.name} at ${r.applied_at.toISOString()}\n`);
        process.stdout.write(`${rows.length} of ${loadMigrations().length} migrations applied; up to date\n`);
      } finally {
        await store.close();
      }
    });
}
