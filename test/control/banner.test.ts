import type { ControlSettings } from '../../events/scaling';
import { bannerKey, type DecisionData, type TaskCountData, unchangedDecisionLine } from '../../src/control/messages';
import { decide } from '../../src/control/policy';
import { choosePolicy, DEFAULT_POLICY } from '../../src/policies/index';

/** Whether a cycle's banner (the framed blocks) is printed again: only when its figures changed. */

const settings: ControlSettings = {
  MAX_WORKERS: 10,
  MAX_ACTIVE_GPUS: 10,
  MAX_HOURLY_COST_USD: null,
  GPU_IDLE_TIMEOUT_SEC: 300,
  SPAWNING_TIMEOUT_SEC: 600,
  WORKER_MAX_LIFETIME_SEC: null,
};

/** One cycle under the default policy (the configuration users get), with `past` earlier counts. */
function cycle(n: number, queued: number, past: number): [TaskCountData, DecisionData] {
  const now = new Date(Date.parse('2026-11-27T18:00:00Z') + n * 30_000);
  const r = decide({
    now,
    cycle: n,
    queued,
    active: 0,
    activity: null,
    fleet: [],
    settings,
    policy: choosePolicy(DEFAULT_POLICY, {}),
    recent: Array.from({ length: past }, (_, i) => ({
      at: new Date(now.getTime() - (i + 1) * 30_000).toISOString(),
      queued: 0,
      active: 0,
    })),
    gpusPerWorker: 1,
    quoteUsdPerHour: null,
  });
  const task = { cycle: n, queued, active: 0, total: queued, source: 'http', responseMs: 3 * n, workers: null };
  return [task, { ...r, cycle: n, queued, active: 0, settings }];
}

describe('the banner of an unchanged cycle', () => {
  test('idle cycles share one key although the lookback counts more observations each time', () => {
    const [t1, d1] = cycle(1, 0, 0);
    const [t2, d2] = cycle(2, 0, 1);
    const [t3, d3] = cycle(3, 0, 2);
    expect(d2.policy.terms[0].formula).not.toBe(d3.policy.terms[0].formula); // the wording differs
    expect(bannerKey(t2, d2)).toBe(bannerKey(t1, d1));
    expect(bannerKey(t3, d3)).toBe(bannerKey(t1, d1));
    expect(unchangedDecisionLine(d3, 1)).toBe(
      '🎯 SCALING DECISION (Cycle #3): Current=0+0, Desired=0 (MAINTAIN, unchanged since cycle #1)',
    );
  });

  test('a change in the tasks or the decision changes the key', () => {
    const [t1, d1] = cycle(1, 0, 2);
    const [t2, d2] = cycle(2, 3, 2);
    expect(bannerKey(t2, d2)).not.toBe(bannerKey(t1, d1));
    expect(d2.decision).toBe('SCALE_UP');
  });
});
