import { overrideLine } from '../../src/policies/render';

const set = {
  commandId: 'c1',
  command: 'set' as const,
  pool: '*',
  key: 'MAX_ACTIVE_GPUS',
  value: '3',
  by: 'root@vm',
  at: '2026-12-06T03:00:28.123Z',
  reason: 'incident 124',
  forSec: 30,
  until: '2026-12-06T03:00:58.123Z',
};

describe('the overrides list says until when to the second when a minute would not', () => {
  test('a 30 s override: its end to the second, in force and ended', () => {
    expect(overrideLine(set)).toBe(
      'all pools: MAX_ACTIVE_GPUS=3 set by root@vm at 03:00 UTC for 30 s: incident 124 (until 2026-12-06 03:00:58 UTC)',
    );
    expect(overrideLine(set, { how: 'expired', at: '2026-12-06T03:00:58.901Z' })).toContain(
      '(ended 2026-12-06 03:00:58 UTC: expired)',
    );
  });

  test('a whole minute stays as it was', () => {
    expect(
      overrideLine({ ...set, at: '2026-12-06T03:12:00.000Z', forSec: 7200, until: '2026-12-06T05:12:00.000Z' }),
    ).toBe(
      'all pools: MAX_ACTIVE_GPUS=3 set by root@vm at 03:12 UTC for 2 h: incident 124 (until 2026-12-06 05:12 UTC)',
    );
  });
});
