import type { Command } from 'commander';
import { appliedMigrations, loadMigrations } from '../store/migrator';
import { describeTarget } from '../store/open';
import { readerSwitchProblem } from '../store/roles';
import { type CliIo, withStore } from './context';

/** Test seams: the store opener. */
export interface MigrateDeps {
  withStore?: typeof withStore;
}

export function registerMigrate(program: Command, io: CliIo): void {
  defineMigrateCommand(program, io);
}

/** Adds `migrate` to a program; tests pass deps to run it on their own store. */
export function defineMigrateCommand(program: Command, io: CliIo, deps: MigrateDeps = {}): Command {
  const open = deps.withStore ?? withStore;
  return program
    .command('migrate')
    .description(
      'apply pending database migrations, as MIGRATE_DATABASE_URL (the owner of the tables) when set, else ' +
        'DATABASE_URL (every other command also does this first when its user owns the tables)',
    )
    .action(async () => {
      const ownerUrl = io.env.MIGRATE_DATABASE_URL?.trim();
      await open(
        io,
        async (store, target) => {
          const rows = await appliedMigrations(store.db);
          io.stdout.write(`store: ${describeTarget(target)}\n`);
          for (const r of rows) io.stdout.write(`  applied ${r.name} at ${r.applied_at.toISOString()}\n`);
          io.stdout.write(`${rows.length} of ${loadMigrations().length} migrations applied; up to date\n`);
          if (target.kind === 'postgres') {
            const problem = await readerSwitchProblem(store.db);
            if (problem) io.stdout.write(`note: ${problem}\n`);
          }
        },
        ownerUrl ? { databaseUrl: ownerUrl } : {},
      );
    });
}
