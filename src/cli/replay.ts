import type { Command } from 'commander';
import { CliError, type CliIo } from './context';

export function registerReplay(program: Command, _io: CliIo): void {
  program
    .command('replay')
    .description('(not built yet)')
    .action(async () => {
      throw new CliError('replay is not built yet');
    });
}
