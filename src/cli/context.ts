import fs from 'node:fs';
import { parseEnv } from 'node:util';
import { appRegistry } from '../../events/index';
import { secretsOf } from '../config';
import { type ErrorCode, EXIT, type ExitCode, exitCodeFor, GpuScalerError } from '../errors';
import type { EventStore } from '../store/event-store';
import { openStore } from '../store/index';
import { describeTarget, parseDatabaseUrl, type StoreTarget } from '../store/open';

export { EXIT, exitCodeFor };

/** The code of a CLI failure of each kind of exit: EXIT.usage is bad usage, EXIT.empty nothing found. */
const CLI_CODES: Record<ExitCode, ErrorCode> = { 0: 'FAILURE', 1: 'FAILURE', 2: 'USAGE', 3: 'NOT_FOUND' };

/**
 * A CLI failure with a message for the user: bad usage (`new CliError(msg, EXIT.usage)`, code
 * USAGE), nothing found (EXIT.empty, NOT_FOUND) or a failure (the default, FAILURE). Its exit
 * code comes from its code, as every error's does (exitCodeFor).
 */
export class CliError extends GpuScalerError {
  constructor(message: string, kind: ExitCode = EXIT.failure, options?: { cause?: unknown }) {
    super(CLI_CODES[kind], message, options);
    this.name = 'CliError';
  }

  get exitCode(): ExitCode {
    return exitCodeFor(this);
  }
}

/**
 * What a command does with an error that reached the top: prints it (commander printed its own
 * usage errors already) and returns the exit code, from the error's code.
 */
export function reportError(io: Pick<CliIo, 'stderr'>, err: unknown): ExitCode {
  const exit = exitCodeFor(err);
  const fromCommander =
    typeof err === 'object' && err !== null && 'code' in err && String(err.code).startsWith('commander.');
  if (!fromCommander) io.stderr.write(`gpu-scaler: ${err instanceof Error ? err.message : String(err)}\n`);
  return exit;
}

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** Whether stdout is a terminal (progress bars, colours). */
  isTTY: boolean;
  /** The files `env` was read with (--env-file, --config and their variables), and `env` read anew from them: what a reload (SIGHUP) reads again. */
  reload?: { files: string[]; env: () => Record<string, string | undefined> };
}

export const processIo = (): CliIo => ({
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  isTTY: !!process.stdout.isTTY,
});

export interface WithStoreOptions {
  listen?: boolean;
  /** The URL to open instead of DATABASE_URL (READ_DATABASE_URL, MIGRATE_DATABASE_URL). */
  databaseUrl?: string;
  /** false: never migrate, only check that the migrations are applied (a reader login). */
  migrate?: boolean;
}

/**
 * Opens the store DATABASE_URL names (migrating it first when the user owns the tables, as every
 * command does), runs fn, closes.
 */
export async function withStore<T>(
  io: CliIo,
  fn: (store: EventStore, target: StoreTarget) => Promise<T>,
  opts: WithStoreOptions = {},
): Promise<T> {
  const target = parseDatabaseUrl(opts.databaseUrl ?? io.env.DATABASE_URL);
  let store: EventStore;
  try {
    store = await openStore({
      target,
      registry: appRegistry,
      listen: opts.listen ?? false,
      applicationName: 'gpu-scaler-cli',
      migrate: opts.migrate,
      secrets: secretsOf(io.env),
    });
  } catch (err) {
    throw new CliError(`cannot open the store (${describeTarget(target)}): ${(err as Error).message}`, EXIT.failure, {
      cause: err,
    });
  }
  try {
    return await fn(store, target);
  } finally {
    await store.close();
  }
}

export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A flag every command takes, given anywhere before a `--` (`--flag FILE` or `--flag=FILE`), else
 * the environment variable: returns argv without the flag, and the file named (null: none).
 */
function takeFileFlag(
  argv: string[],
  env: CliIo['env'],
  flag: string,
  variable: string,
  example: string,
): { argv: string[]; file: string | null } {
  const rest: string[] = [];
  let file: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === flag) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('-')) {
        throw new CliError(`${flag} needs a file: ${flag} ${example}`, EXIT.usage);
      }
      file = next;
      i++;
    } else if (a.startsWith(`${flag}=`)) file = a.slice(flag.length + 1);
    else rest.push(a);
  }
  const fromEnv = env[variable]?.trim();
  return { argv: rest, file: file ?? (fromEnv ? fromEnv : null) };
}

/**
 * `--env-file FILE` (anywhere before a `--`), else GPU_SCALER_ENV_FILE: the settings file to read.
 * Returns argv without the flag, and the file named (null: none).
 */
export function takeEnvFileFlag(argv: string[], env: CliIo['env']): { argv: string[]; file: string | null } {
  return takeFileFlag(argv, env, '--env-file', 'GPU_SCALER_ENV_FILE', './gpu-scaler.env (KEY=value lines)');
}

/**
 * `--config FILE` (anywhere before a `--`), else GPU_SCALER_CONFIG: the configuration file (YAML,
 * with pools) to read. Returns argv without the flag, and the file named (null: none).
 */
export function takeConfigFlag(argv: string[], env: CliIo['env']): { argv: string[]; file: string | null } {
  return takeFileFlag(argv, env, '--config', 'GPU_SCALER_CONFIG', './gpu-scaler.yaml (settings and pools)');
}

/**
 * The environment with the settings of an env file added: KEY=value lines (quotes, `export` and
 * `#` comments as a shell or dotenv reads them, parsed by Node's util.parseEnv). A variable already
 * set in the environment keeps its value. An unreadable file is a usage error naming it.
 */
export function withEnvFile(env: CliIo['env'], file: string): CliIo['env'] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(
      `--env-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
        'name a file of KEY=value lines (GPU_SCALER_ENV_FILE names one too)',
      EXIT.usage,
    );
  }
  const fromFile = parseEnv(text) as Record<string, string>;
  // the process's own environment gets them too (as node --env-file does): libraries read it
  // (the Kubernetes client's KUBECONFIG, local workers' inherited environment)
  const merged: CliIo['env'] = env === process.env ? env : { ...env };
  for (const [k, v] of Object.entries(fromFile)) if (merged[k] === undefined) merged[k] = v;
  return merged;
}
