import type { Command } from 'commander';
import { CliError, type CliIo } from './context';

export function registerExplain(program: Command, _io: CliIo): void {
  program
    .command('explain')
    .description('(not built yet)')
    .action(async () => {
      throw new CliError('explain is not built yet');
    });
}
