import { type Command, Option } from 'commander';
import { misspeltSettings } from '../config';
import { loadConfiguration } from '../config-file';
import { runService } from '../service';
import type { CliIo } from './context';
import { wholeNumber } from './flags';

interface StartFlags {
  pollInterval?: string;
  maxWorkers?: string;
  maxActiveGpus?: string;
  logFormat?: string;
  cycles?: number;
}

/** Test seams: the service to run (default: the controller's). */
export interface StartDeps {
  runService?: typeof runService;
}

export function registerStart(program: Command, io: CliIo): void {
  defineStartCommand(program, io);
}

/** Adds `start` to a program; tests pass deps to run a service of their own. */
export function defineStartCommand(program: Command, io: CliIo, deps: StartDeps = {}): Command {
  const run = deps.runService ?? runService;
  return program
    .command('start')
    .description(
      'run the controller of every pool as a service (every POLL_INTERVAL_SEC; settings from environment variables or --config; replicas against one database share the pools)',
    )
    .option('--poll-interval <sec>', 'seconds between cycles (POLL_INTERVAL_SEC)')
    .option('--max-workers <n>', 'policy ceiling (MAX_WORKERS)')
    .option('--max-active-gpus <n>', 'hard GPU budget (MAX_ACTIVE_GPUS)')
    .option('--log-format <pretty|json>', 'stdout log format (LOG_FORMAT)')
    .addOption(
      new Option('--cycles <n>', 'stop after this many cycles (default: run until SIGINT/SIGTERM)').argParser(
        wholeNumber('--cycles', 1),
      ),
    )
    .action(async (flags: StartFlags) => {
      const overrides: Record<string, string> = {};
      if (flags.pollInterval) overrides.POLL_INTERVAL_SEC = flags.pollInterval;
      if (flags.maxWorkers) overrides.MAX_WORKERS = flags.maxWorkers;
      if (flags.maxActiveGpus) overrides.MAX_ACTIVE_GPUS = flags.maxActiveGpus;
      if (flags.logFormat) overrides.LOG_FORMAT = flags.logFormat;
      for (const warning of misspeltSettings(io.env)) io.stderr.write(`gpu-scaler: warning: ${warning}\n`);
      // every pool of the file (or the environment as pool default); the flags win in every pool
      const configuration = loadConfiguration(io.env, { overrides });
      // SIGHUP reads the files again (the environment and these flags still win over them)
      const reload = io.reload;
      const reloadConfiguration = () => loadConfiguration(reload ? reload.env() : io.env, { overrides });
      const single = configuration.pools.length === 1;
      process.exitCode = await run({
        // one pool: its settings, as before pools; several: the top level's (the process's)
        config: single ? configuration.pools[0].config : configuration.top,
        configuration,
        maxCycles: flags.cycles,
        stdout: io.stdout,
        stderr: io.stderr,
        reloadConfiguration,
        envFile: reload ? reload.files.join(' and ') : null,
      });
    });
}
