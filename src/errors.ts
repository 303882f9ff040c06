/**
 * One error base for gpu-scaler: every error it raises on purpose has a `code`, so callers branch
 * on `hasCode(err, 'CONCURRENCY')`, not on class names, and the CLI's exit code follows from the
 * code in one place (`exitCodeFor`). Pure: no imports, no I/O (the event definitions use it too).
 */
export type ErrorCode =
  /** Bad command-line usage: an unknown flag, a value not allowed. Exit 2. */
  | 'USAGE'
  /** A setting is missing or not allowed. Exit 2. */
  | 'CONFIG_INVALID'
  /** Nothing matched what was asked (`events`, `explain`). Exit 3. */
  | 'NOT_FOUND'
  /** A command failed for a reason of its own (its message says which). Exit 1. */
  | 'FAILURE'
  /** GS001: the stream was not at the expected version. */
  | 'CONCURRENCY'
  /** GS002: an event id already stored belongs to a different event. */
  | 'EVENT_ID_CONFLICT'
  /** New event data does not fit its type's schema (or the type is unknown). */
  | 'EVENT_INVALID'
  /** A stored event cannot be read by this build. */
  | 'EVENT_UNDECODABLE'
  /** A provider call failed; the error's `kind` classifies it. */
  | 'PROVIDER'
  /** The task source's answer could not be had. */
  | 'SOURCE'
  /** DB_LOGGING_REQUIRED and database logging could not start. Exit 1. */
  | 'DB_LOGGING_REQUIRED'
  | 'DB_LOGGING_UNAVAILABLE'
  | 'DB_LOGGING_TIMEOUT'
  /** A migration is pending, failed or was changed after it was applied. */
  | 'MIGRATION'
  /** `sql` cannot take its read-only role. */
  | 'READER_ROLE'
  /** Another process holds the embedded store's directory. */
  | 'DATA_DIR_LOCKED'
  /** A subscriber's checkpoint was moved by another process. */
  | 'CHECKPOINT_CONFLICT'
  /** A projection rebuild failed. */
  | 'REBUILD';

export class GpuScalerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GpuScalerError';
  }
}

/**
 * The error class of a code whose errors carry more than a message (e.g. CONCURRENCY: the stream's
 * actual version), so `hasCode` gives that type. Each such class adds itself where it is declared:
 * `declare module '../errors' { interface CodedErrors { CONCURRENCY: ConcurrencyError } }`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging
export interface CodedErrors {}

/** The error type `hasCode(err, code)` narrows to. */
export type CodedError<C extends ErrorCode> = C extends keyof CodedErrors
  ? CodedErrors[C]
  : GpuScalerError & { code: C };

/** Whether err is a gpu-scaler error with this code (narrowed to that code's class, if it has one). */
export function hasCode<C extends ErrorCode>(err: unknown, code: C): err is CodedError<C> {
  return err instanceof GpuScalerError && err.code === code;
}

/** The exit codes of every command: 0 ok, 1 failure, 2 bad usage, 3 nothing found. */
export const EXIT = { ok: 0, failure: 1, usage: 2, empty: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** commander's own errors (unknown option, missing argument; also --help and --version, which exit 0). */
function isCommanderError(err: unknown): err is { code: string; exitCode: number } {
  if (typeof err !== 'object' || err === null || !('code' in err) || !('exitCode' in err)) return false;
  return typeof err.code === 'string' && err.code.startsWith('commander.') && typeof err.exitCode === 'number';
}

/** The exit code for an error: the one place it is decided. */
export function exitCodeFor(err: unknown): ExitCode {
  if (isCommanderError(err)) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (!(err instanceof GpuScalerError)) return EXIT.failure;
  switch (err.code) {
    case 'USAGE':
    case 'CONFIG_INVALID':
      return EXIT.usage;
    case 'NOT_FOUND':
      return EXIT.empty;
    default:
      return EXIT.failure;
  }
}
