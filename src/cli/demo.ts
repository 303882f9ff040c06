import type { Command } from 'commander';
import { CliError, type CliIo } from './context';

export function registerDemo(program: Command, _io: CliIo): void {
  program
    .command('demo')
    .description('(not built yet)')
    .action(async () => {
      throw new CliError('demo is not built yet');
    });
}
