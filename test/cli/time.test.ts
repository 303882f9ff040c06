import { CliError, EXIT } from '../../src/cli/context';
import { parseNow, parseUntil } from '../../src/cli/flags';
import { parseDuration, parseTime } from '../../src/cli/time';

const NOW = new Date('2026-11-27T20:00:00Z');

/** The usage error a parser throws, as values (so a failure shows what differed). */
function usageError(fn: () => unknown): { exitCode: number; message: string } | 'no error' {
  try {
    fn();
    return 'no error';
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    return { exitCode: err.exitCode, message: err.message };
  }
}

describe('the time flags every command shares', () => {
  test('--until: a bare whole number is a position; anything else a time, or a duration ago', () => {
    expect(parseUntil('1200')).toEqual({ kind: 'position', position: 1200 });
    expect(parseUntil(' 0 ')).toEqual({ kind: 'position', position: 0 });
    expect(parseUntil('18:26', { utc: true, now: NOW })).toEqual({
      kind: 'time',
      time: new Date('2026-11-27T18:26:00Z'),
    });
    expect(parseUntil('2026-11-27T18:26:00Z')).toEqual({ kind: 'time', time: new Date('2026-11-27T18:26:00Z') });
    expect(parseUntil('1h', { now: NOW, allowAgo: true })).toEqual({
      kind: 'time',
      time: new Date('2026-11-27T19:00:00Z'),
    });
    expect(usageError(() => parseUntil('1h', { now: NOW }))).toMatchObject({ exitCode: EXIT.usage });
    expect(usageError(() => parseUntil('99999999999999999999'))).toEqual({
      exitCode: EXIT.usage,
      message: '--until 99999999999999999999: position too large',
    });
  });

  test('--now: an ISO timestamp or a time of day, and a clear usage error otherwise', () => {
    expect(parseNow(undefined)).toBeUndefined();
    expect(parseNow('2026-11-27T20:00:00Z')).toEqual(NOW);
    expect(parseNow('2026-11-27T20:00', true)).toEqual(NOW);
    expect(usageError(() => parseNow('soon'))).toEqual({
      exitCode: EXIT.usage,
      message:
        '--now "soon" is not a time: use a time of day (18:25 or 18:25:42) or an ISO timestamp (2026-11-27T18:25:00Z)',
    });
  });

  test('a time of day is read against --now: later than now means yesterday', () => {
    expect(parseTime('18:25:42', { utc: true, now: NOW })).toEqual(new Date('2026-11-27T18:25:42Z'));
    expect(parseTime('21:00', { utc: true, now: NOW })).toEqual(new Date('2026-11-26T21:00:00Z'));
  });

  test('--window and other durations', () => {
    expect([parseDuration('90s'), parseDuration('2m'), parseDuration('1h'), parseDuration('7d')]).toEqual([
      90_000, 120_000, 3_600_000, 604_800_000,
    ]);
    expect(usageError(() => parseDuration('2 weeks'))).toEqual({
      exitCode: EXIT.usage,
      message: '--window "2 weeks" is not a duration: use a number and a unit, like 90s, 2m, 1h or 7d',
    });
  });
});
