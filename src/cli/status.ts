import type { Command } from 'commander';
import { CliError, type CliIo } from './context';

export function registerStatus(program: Command, _io: CliIo): void {
  program
    .command('status')
    .description('(not built yet)')
    .action(async () => {
      throw new CliError('status is not built yet');
    });
}
