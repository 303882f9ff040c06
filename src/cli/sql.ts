import type { Command } from 'commander';
import { CliError, type CliIo } from './context';

export function registerSql(program: Command, _io: CliIo): void {
  program
    .command('sql')
    .description('(not built yet)')
    .action(async () => {
      throw new CliError('sql is not built yet');
    });
}
