import type { Command } from 'commander';
import { CliError, type CliIo } from './context';

export function registerEvents(program: Command, _io: CliIo): void {
  program
    .command('events')
    .description('(not built yet)')
    .action(async () => {
      throw new CliError('events is not built yet');
    });
}
