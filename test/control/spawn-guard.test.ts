import { FakeClock } from '../../src/clock';
import { MemoryLog } from '../../src/control/log';
import { SpawnGuard } from '../../src/control/steps/spawn-guard';
import type { ControlReads } from '../../src/store/reads';

/** Reads with no spawn outcomes that keep the windows they were asked for. */
class RecordingReads implements Pick<ControlReads, 'spawnOutcomesBetween'> {
  readonly calls: { since: string; until: string }[] = [];
  async spawnOutcomesBetween(since: string, until: string) {
    this.calls.push({ since, until });
    return [];
  }
}

describe('the spawn guard reads only the window its rules need', () => {
  test('after days of running, each check reads the breaker window (and the previous check), not the whole history', async () => {
    const reads = new RecordingReads();
    const clock = new FakeClock('2026-11-27T18:00:00.000Z');
    const guard = new SpawnGuard({
      reads,
      clock,
      log: new MemoryLog(),
      provider: { name: 'sim', list: async () => [] },
      breaker: { windowSec: 300, minSpawns: 5, failureRatio: 0.8 },
      probeEveryCycles: 3,
    });
    guard.startedAt = clock.now();
    const spans: number[] = [];
    for (let cycle = 1; cycle <= 3 * 24 * 120; cycle++) {
      await guard.check(cycle);
      const { since, until } = reads.calls[reads.calls.length - 1]!;
      spans.push((Date.parse(until) - Date.parse(since)) / 1000);
      clock.advance(30_000);
    }
    // the breaker's 300 s, and back to 10 min before the previous check (outcomes recorded late)
    expect(Math.max(...spans)).toBeLessThanOrEqual(30 + 600 + 1);
    expect(spans[spans.length - 1]).toBe(spans[1]);
  });
});
