import { type Command, Option } from 'commander';
import { misspeltSettings } from '../config';
import { loadConfiguration } from '../config-file';
import { runService } from '../service';
import { CliError, type CliIo, EXIT } from './context';
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
      'run the controller as a service (every POLL_INTERVAL_SEC; settings from environment variables or --config)',
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
      const onePool = (c: ReturnType<typeof loadConfiguration>) => {
        if (c.pools.length > 1) {
          throw new CliError(
            `${c.file} declares ${c.pools.length} pools (${c.pools.map((p) => p.name).join(', ')}): pools run from a later version; this one runs a single pool (keep one under pools:, or none)`,
            EXIT.usage,
          );
        }
        return c.pools[0].config;
      };
      const config = onePool(loadConfiguration(io.env, { overrides }));
      // SIGHUP reads the files again (the environment and these flags still win over them)
      const reload = io.reload;
      const reloadConfig = () => onePool(loadConfiguration(reload ? reload.env() : io.env, { overrides }));
      process.exitCode = await run({
        config,
        maxCycles: flags.cycles,
        stdout: io.stdout,
        stderr: io.stderr,
        reloadConfig,
        envFile: reload ? reload.files.join(' and ') : null,
      });
    });
}
