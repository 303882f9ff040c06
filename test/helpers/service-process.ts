import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import path from 'node:path';
import { PGLITE_TEMPLATE_ENV } from '../../src/store/db-pglite';
import { packageRoot } from '../../src/util/package-root';

const root = packageRoot();

/** Brings dist/ up to date (incremental, under a lock): the service runs from it, as `npm start` does. */
export { buildDist } from './build-dist';

export interface ServiceProcess {
  child: ChildProcess;
  /** stdout and stderr as read so far (what is piped). */
  out: () => string;
}

/**
 * `gpu-scaler start` in a process of its own, from dist/. `stdio` replaces the default pipes
 * (a test points stdout or stderr at /dev/full); what is piped is collected by out().
 */
export function startService(
  dir: string,
  env: Record<string, string>,
  opts: { args?: string[]; stdio?: StdioOptions } = {},
): ServiceProcess {
  let out = '';
  const child = spawn(process.execPath, [path.join(root, 'bin/gpu-scaler.js'), 'start', ...(opts.args ?? [])], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      // a new PGlite (memory://, a fresh pglite:// directory) loads the suite's initialised template
      // instead of running initdb: seconds of CPU per start (test/helpers/pglite-template.js)
      ...(process.env[PGLITE_TEMPLATE_ENV] ? { [PGLITE_TEMPLATE_ENV]: process.env[PGLITE_TEMPLATE_ENV] } : {}),
      LOG_FILE: path.join(dir, 'orchestrator.log'),
      DB_LOGGING_ERRORS_FILE: path.join(dir, 'db_logging_errors.log'),
      ...env,
    },
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  return { child, out: () => out };
}

export const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

/** Resolves to the exit, or to 'running' if the process is still there after `ms`. */
export const exitWithin = (child: ChildProcess, ms: number) =>
  Promise.race([exited(child), new Promise<'running'>((r) => setTimeout(() => r('running'), ms).unref())]);
