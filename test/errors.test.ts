import { CommanderError } from 'commander';
import { EventDecodeError, EventValidationError } from '../events/registry';
import { CliError } from '../src/cli/context';
import { ConfigError } from '../src/config';
import { type ErrorCode, EXIT, exitCodeFor, GpuScalerError, hasCode } from '../src/errors';
import { DbLoggingRequiredError } from '../src/logging/db-logging-init';
import { ProviderError } from '../src/providers/provider';
import { ConcurrencyError, EventIdConflictError } from '../src/store/errors';

describe('one error base with a code', () => {
  test('every error gpu-scaler raises on purpose has its code', () => {
    const cases: [Error, ErrorCode][] = [
      [new ConcurrencyError('s', 3, 4), 'CONCURRENCY'],
      [new EventIdConflictError('s', ['id']), 'EVENT_ID_CONFLICT'],
      [new EventValidationError('T', 'x: bad'), 'EVENT_INVALID'],
      [new EventDecodeError(1, 'T', 'bad'), 'EVENT_UNDECODABLE'],
      [new ProviderError('capacity', 'no GPUs'), 'PROVIDER'],
      [new ConfigError(['MAX_WORKERS: bad']), 'CONFIG_INVALID'],
      [new DbLoggingRequiredError('no logging'), 'DB_LOGGING_REQUIRED'],
      [new CliError('bad flag', EXIT.usage), 'USAGE'],
      [new CliError('nothing', EXIT.empty), 'NOT_FOUND'],
      [new CliError('broke'), 'FAILURE'],
    ];
    for (const [err, code] of cases) {
      expect({ name: err.name, isBase: err instanceof GpuScalerError, code: hasCode(err, code) }).toEqual({
        name: err.name,
        isBase: true,
        code: true,
      });
    }
    expect(hasCode(new Error('plain'), 'FAILURE')).toBe(false);
    expect(hasCode('not an error', 'FAILURE')).toBe(false);
  });

  test('hasCode narrows to the class of the code: callers read its fields without knowing the class', () => {
    const err: unknown = new ConcurrencyError('controller', 3, 5);
    if (!hasCode(err, 'CONCURRENCY')) throw new Error('expected CONCURRENCY');
    expect(err.actual).toBe(5);
    const p: unknown = new ProviderError('rate_limited', 'slow down', 1000);
    if (!hasCode(p, 'PROVIDER')) throw new Error('expected PROVIDER');
    expect([p.kind, p.retryAfterMs]).toEqual(['rate_limited', 1000]);
  });

  test('the exit code follows from the code: usage and settings 2, nothing found 3, anything else 1', () => {
    expect(exitCodeFor(new CliError('bad flag', EXIT.usage))).toBe(2);
    expect(exitCodeFor(new ConfigError(['MAX_WORKERS: bad']))).toBe(2);
    expect(exitCodeFor(new CliError('nothing', EXIT.empty))).toBe(3);
    expect(exitCodeFor(new DbLoggingRequiredError('no logging'))).toBe(1);
    expect(exitCodeFor(new ConcurrencyError('s', 1, 2))).toBe(1);
    expect(exitCodeFor(new Error('anything'))).toBe(1);
    expect(exitCodeFor(new CommanderError(1, 'commander.unknownOption', "unknown option '--x'"))).toBe(2);
    expect(exitCodeFor(new CommanderError(0, 'commander.version', '0.1.0'))).toBe(0);
    expect(new CliError('bad flag', EXIT.usage).exitCode).toBe(2);
  });
});
