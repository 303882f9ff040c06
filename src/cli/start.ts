import type { Command } from 'commander';
import { loadConfig, misspeltSettings } from '../config';
import { runService } from '../service';
import { CliError, type CliIo, EXIT } from './context';

export function registerStart(program: Command, io: CliIo): void {
  program
    .command('start')
    .description('run the controller as a service (every POLL_INTERVAL_SEC; settings from environment variables)')
    .option('--poll-interval <sec>', 'seconds between cycles (POLL_INTERVAL_SEC)')
    .option('--max-workers <n>', 'policy ceiling (MAX_WORKERS)')
    .option('--max-active-gpus <n>', 'hard GPU budget (MAX_ACTIVE_GPUS)')
    .option('--log-format <pretty|json>', 'stdout log format (LOG_FORMAT)')
    .option('--cycles <n>', 'stop after this many cycles (default: run until SIGINT/SIGTERM)')
    .action(async (flags: Record<string, string | undefined>) => {
      const overrides: Record<string, string> = {};
      if (flags.pollInterval) overrides.POLL_INTERVAL_SEC = flags.pollInterval;
      if (flags.maxWorkers) overrides.MAX_WORKERS = flags.maxWorkers;
      if (flags.maxActiveGpus) overrides.MAX_ACTIVE_GPUS = flags.maxActiveGpus;
      if (flags.logFormat) overrides.LOG_FORMAT = flags.logFormat;
      for (const warning of misspeltSettings(io.env)) io.stderr.write(`gpu-scaler: warning: ${warning}\n`);
      const cycles = flags.cycles === undefined ? undefined : Number(flags.cycles);
      if (
        cycles !== undefined &&
        (!/^\s*\d+\s*$/.test(flags.cycles ?? '') || !Number.isSafeInteger(cycles) || cycles < 1)
      ) {
        throw new CliError(`--cycles ${flags.cycles} is not allowed: expected a whole number >= 1`, EXIT.usage);
      }
      const config = loadConfig({ ...io.env, ...overrides });
      process.exitCode = await runService({ config, maxCycles: cycles, stdout: io.stdout, stderr: io.stderr });
    });
}
