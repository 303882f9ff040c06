import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { withConfigFile } from '../config-file';
import { packageRoot } from '../util/package-root';
import { registerAdopt } from './adopt';
import { registerConfig } from './config';
import { type CliIo, EXIT, processIo, reportError, takeConfigFlag, takeEnvFileFlag, withEnvFile } from './context';
import { registerDemo } from './demo';
import { registerEvents } from './events';
import { registerExplain } from './explain';
import { registerMigrate } from './migrate';
import { registerOperator } from './operator';
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
        'GPU_SCALER_ENV_FILE=FILE; a variable set in the environment wins over the file.\n' +
        'A configuration file (YAML: settings and pools) is read with --config FILE or GPU_SCALER_CONFIG=FILE.',
    )
    .option('--env-file <file>', 'read settings (KEY=value lines) from this file; the environment wins over it')
    .option('--config <file>', 'read settings and pools from this YAML file (docs/configuration-file.md)')
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
  registerConfig(program, io);
  registerOperator(program, io);
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
    const base = { ...io.env };
    const taken = takeEnvFileFlag(argv, io.env);
    if (taken.file !== null) io = { ...io, env: withEnvFile(io.env, taken.file) };
    // after the env file, which may name it
    const config = takeConfigFlag(taken.argv, io.env);
    if (config.file !== null) io = { ...io, env: withConfigFile(io.env, config.file) };
    const files = [taken.file, config.file].filter((f): f is string => f !== null);
    // what a reload (SIGHUP) reads again: the same files over the environment the process started with
    const reread = () => {
      let env: CliIo['env'] = { ...base };
      if (taken.file !== null) env = withEnvFile(env, taken.file);
      if (config.file !== null) env = withConfigFile(env, config.file);
      return env;
    };
    if (files.length) io = { ...io, reload: { files, env: reread } };
    const program = buildProgram(io);
    await program.parseAsync(config.argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    // the exit code follows from the error's code (src/errors.ts exitCodeFor); help and --version exit 0
    return reportError(io, err);
  }
}
