import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { packageRoot } from '../util/package-root';
import { registerAdopt } from './adopt';
import { type CliIo, EXIT, processIo, reportError, takeEnvFileFlag, withEnvFile } from './context';
import { registerDemo } from './demo';
import { registerEvents } from './events';
import { registerExplain } from './explain';
import { registerMigrate } from './migrate';
import { registerReplay } from './replay';
import { registerShadowReport } from './shadow-report';
import { registerSimulate } from './simulate';
import { registerSql } from './sql';
import { registerStart } from './start';
import { registerStatus } from './status';
import { registerWhatIf } from './what-if';

/** This build's version, from its package.json. */
export function version(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('gpu-scaler')
    .description(
      'Event-sourced scaling controller for fleets of GPU workers.\n' +
        'Every command reads DATABASE_URL: unset = embedded store in ./.gpu-scaler/db, postgres://… = a server,\n' +
        'pglite:///dir = an embedded store elsewhere, memory:// = a throwaway one.\n' +
        'On a server, migrate reads MIGRATE_DATABASE_URL (the owner) and sql READ_DATABASE_URL (a reader login) first.\n' +
        'Settings may also come from a file of KEY=value lines: --env-file FILE (before or after the command) or\n' +
        'GPU_SCALER_ENV_FILE=FILE; a variable set in the environment wins over the file.',
    )
    .option('--env-file <file>', 'read settings (KEY=value lines) from this file; the environment wins over it')
    .version(version(), '-V, --version', "print gpu-scaler's version")
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride();
  registerStart(program, io);
  registerMigrate(program, io);
  registerExplain(program, io);
  registerEvents(program, io);
  registerReplay(program, io);
  registerStatus(program, io);
  registerSql(program, io);
  registerDemo(program, io);
  registerSimulate(program, io);
  registerWhatIf(program, io);
  registerShadowReport(program, io);
  registerAdopt(program, io);
  for (const c of program.commands) c.exitOverride().showHelpAfterError('(add --help for usage)');
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[], given: CliIo = processIo()): Promise<number> {
  let io = given;
  process.exitCode = undefined;
  try {
    const taken = takeEnvFileFlag(argv, io.env);
    if (taken.file !== null) io = { ...io, env: withEnvFile(io.env, taken.file) };
    const program = buildProgram(io);
    await program.parseAsync(taken.argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    // the exit code follows from the error's code (src/errors.ts exitCodeFor); help and --version exit 0
    return reportError(io, err);
  }
}
