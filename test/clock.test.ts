import { monotonicClock } from '../src/clock';

/** A wall clock and a monotonic clock the test moves separately. */
function sources(start = Date.parse('2026-11-27T18:00:00.000Z')) {
  const s = { wallMs: start, monoMs: 5_000 };
  return { s, wall: () => s.wallMs, mono: () => s.monoMs };
}

describe('the service clock (wall time at start + monotonic time)', () => {
  test('a backward jump of the wall clock moves neither durations nor event times', () => {
    const { s, wall, mono } = sources();
    const drifts: number[] = [];
    const clock = monotonicClock({ wall, mono, onDrift: (d) => drifts.push(d) });
    const idleSince = clock.now().getTime();
    s.monoMs += 120_000;
    s.wallMs += 120_000 - 3_600_000; // two minutes pass, and the wall clock is set back an hour
    const now = clock.now();
    expect(now.getTime() - idleSince).toBe(120_000); // idle for two minutes, not minus 58
    expect(now.toISOString()).toBe('2026-11-27T18:02:00.000Z');
    expect(drifts).toEqual([-3_600_000]);
  });

  test('a forward jump neither: idle workers are not terminated early', () => {
    const { s, wall, mono } = sources();
    const clock = monotonicClock({ wall, mono });
    const t0 = clock.now().getTime();
    s.monoMs += 10_000;
    s.wallMs += 10_000 + 3_600_000;
    expect(clock.now().getTime() - t0).toBe(10_000);
  });

  test('drift is reported once per further minute, and not under a minute', () => {
    const { s, wall, mono } = sources();
    const drifts: number[] = [];
    const clock = monotonicClock({ wall, mono, onDrift: (d) => drifts.push(d) });
    s.wallMs += 59_000;
    clock.now();
    expect(drifts).toEqual([]);
    s.wallMs += 2_000;
    clock.now();
    clock.now();
    expect(drifts).toEqual([61_000]);
    s.wallMs += 60_000;
    clock.now();
    expect(drifts).toEqual([61_000, 121_000]);
  });
});
