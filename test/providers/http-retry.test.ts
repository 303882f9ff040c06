import type { Clock } from '../../src/clock';
import { backoffDelayMs, parseRetryAfter, withRetries } from '../../src/providers/http-retry';

const NOW = new Date('2026-11-27T12:00:00.000Z');
const policy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 250 };

describe('backoffDelayMs', () => {
  test('doubles, is capped, and keeps half fixed', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, policy, () => 0))).toEqual([50, 100, 125, 125]);
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, policy, () => 0.999999))).toEqual([100, 200, 250, 250]);
  });
});

describe('parseRetryAfter', () => {
  test('seconds, fractions, HTTP dates (never negative), junk', () => {
    expect(parseRetryAfter('7', NOW)).toBe(7000);
    expect(parseRetryAfter(' 1.5 ', NOW)).toBe(1500);
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter('Fri, 27 Nov 2026 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Fri, 27 Nov 2026 11:00:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter('-3', NOW)).toBeUndefined();
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
    expect(parseRetryAfter('', NOW)).toBeUndefined();
  });
});

describe('withRetries', () => {
  const sleeps: number[] = [];
  const clock: Clock = {
    now: () => NOW,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  };
  beforeEach(() => {
    sleeps.length = 0;
  });

  test('retries what classify allows, with its delay or the backoff, then gives up with the last error', async () => {
    let n = 0;
    const op = async (attempt: number) => {
      n = attempt;
      throw new Error(`fail ${attempt}`);
    };
    await expect(
      withRetries(op, {
        policy,
        clock,
        random: () => 0,
        classify: (err) => ((err as Error).message === 'fail 2' ? { retry: true, delayMs: 999 } : { retry: true }),
      }),
    ).rejects.toThrow('fail 4');
    expect(n).toBe(4);
    expect(sleeps).toEqual([50, 999, 125]);
  });

  test('stops at once when classify says so', async () => {
    let calls = 0;
    await expect(
      withRetries(
        async () => {
          calls += 1;
          throw new Error('permanent');
        },
        { policy, clock, random: () => 0, classify: () => ({ retry: false }) },
      ),
    ).rejects.toThrow('permanent');
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
  });

  test('returns the first success', async () => {
    const result = await withRetries(async (attempt) => (attempt < 3 ? Promise.reject(new Error('x')) : 'ok'), {
      policy,
      clock,
      random: () => 0,
      classify: () => ({ retry: true }),
    });
    expect(result).toBe('ok');
    expect(sleeps).toEqual([50, 100]);
  });
});
