import { appRegistry } from '../../events/index';
import { secretsOf } from '../config';
import type { EventStore } from '../store/event-store';
import { openStore } from '../store/index';
import { describeTarget, parseDatabaseUrl, type StoreTarget } from '../store/open';

/** A CLI failure with a message for the user and an exit code (2: bad usage, 1: failure, 3: nothing found). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const EXIT = { ok: 0, failure: 1, usage: 2, empty: 3 } as const;

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** Whether stdout is a terminal (progress bars, colours). */
  isTTY: boolean;
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
    throw new CliError(`cannot open the store (${describeTarget(target)}): ${(err as Error).message}`);
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
