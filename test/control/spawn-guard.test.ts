import { FakeClock } from '../../src/clock';
import { MemoryLog } from '../../src/control/log';
import { SpawnGuard } from '../../src/control/steps/spawn-guard';
import type { Sql } from '../../src/store/db';

/** An Sql that answers every query with no rows and keeps the parameters it was asked with. */
class RecordingSql implements Sql {
  readonly calls: { text: string; params: readonly unknown[] }[] = [];
  async query<T>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    this.calls.push({ text, params });
    return [];
  }
  async exec(): Promise<void> {}
  async copyIn(): Promise<void> {}
}

describe('the spawn guard reads only the window its rules need', () => {
  test('after days of running, each check reads the breaker window (and the previous check), not the whole history', async () => {
    const sql = new RecordingSql();
    const clock = new FakeClock('2026-11-27T18:00:00.000Z');
    const guard = new SpawnGuard({
      sql,
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
      const { params } = sql.calls[sql.calls.length - 1]!;
      spans.push((Date.parse(String(params[1])) - Date.parse(String(params[0]))) / 1000);
      clock.advance(30_000);
    }
    // the breaker's 300 s, and back to 10 min before the previous check (outcomes recorded late)
    expect(Math.max(...spans)).toBeLessThanOrEqual(30 + 600 + 1);
    expect(spans[spans.length - 1]).toBe(spans[1]);
  });
});
