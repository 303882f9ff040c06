import { breakerState, type SpawnOutcome } from '../../src/control/circuit-breaker';

const NOW = new Date('2026-11-27T18:30:00.000Z');
const at = (secAgo: number) => new Date(NOW.getTime() - secAgo * 1000).toISOString();
const ok = (secAgo: number): SpawnOutcome => ({ at: at(secAgo), ok: true, kind: null });
const fail = (secAgo: number, kind: SpawnOutcome['kind'] = 'error'): SpawnOutcome => ({
  at: at(secAgo),
  ok: false,
  kind,
});

describe('spawn circuit breaker', () => {
  test('opens above 80 % failures with at least 5 spawns in the window', () => {
    expect(breakerState([fail(10), fail(20), fail(30), fail(40), fail(50)], NOW)).toMatchObject({
      open: true,
      counted: 5,
      failed: 5,
    });
    // exactly 80 %
    expect(breakerState([fail(10), fail(20), fail(30), fail(40), ok(50)], NOW)).toEqual({
      open: false,
      counted: 5,
      failed: 4,
      reason: null,
    });
    // too few
    expect(breakerState([fail(10), fail(20), fail(30), fail(40)], NOW)).toEqual({
      open: false,
      counted: 4,
      failed: 4,
      reason: null,
    });
  });

  test('capacity failures do not count toward it', () => {
    const outcomes = [fail(10, 'capacity'), fail(20, 'capacity'), fail(30, 'capacity'), fail(40), fail(50), ok(60)];
    expect(breakerState(outcomes, NOW)).toMatchObject({ open: false, counted: 3, failed: 2 });
  });

  test('refusals by the provider (credentials, billing, invalid request, retired API) do not count either', () => {
    const kinds = ['auth', 'billing', 'invalid_request', 'api_retired', 'auth', 'billing'] as const;
    const outcomes = [...kinds.map((k, i) => fail(10 + i, k)), fail(40), ok(60)];
    expect(breakerState(outcomes, NOW)).toMatchObject({ open: false, counted: 2, failed: 1 });
  });

  test('clears when the failures leave the 5-minute window', () => {
    const outcomes = [fail(310), fail(320), fail(330), fail(340), fail(350), fail(10)];
    expect(breakerState(outcomes, NOW)).toMatchObject({ open: false, counted: 1 });
    expect(breakerState(outcomes, new Date(NOW.getTime() - 60_000))).toMatchObject({
      open: true,
      counted: 5,
      failed: 5,
      reason: expect.stringMatching(/5 of 5 spawns failed in the last 300s/),
    });
  });
});
