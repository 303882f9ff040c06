import { Command, CommanderError } from 'commander';
import { registerMigrate } from './migrate';
import { registerStart } from './start';

export function buildProgram(): Command {
  const program = new Command('gpu-scaler')
    .description('Event-sourced scaling controller for fleets of GPU workers')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  registerStart(program);
  registerMigrate(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
}
