import { appRegistry } from '../../events/index';
import type { ControlSettings } from '../../events/scaling';
import { loadConfig } from '../../src/config';
import { cancelUnwanted } from '../../src/control/cancel';
import { decide, type FleetWorker } from '../../src/control/policy';
import { configuredPolicy, controlSettings } from '../../src/control/steps/decide';
import { actionText, cancelSentence } from '../../src/policies/render';

// the defaults users get (no POLICY pinned)
const config = loadConfig({});
const settings: ControlSettings = controlSettings(config);
const NOW = new Date('2026-11-27T18:30:00.000Z');
const ago = (sec: number) => new Date(NOW.getTime() - sec * 1000).toISOString();
const spawning = (id: string, requestedSecAgo: number): FleetWorker => ({
  workerId: id,
  podId: `pod-${id}`,
  status: 'spawning',
  requestedAt: ago(requestedSecAgo),
  activeAt: null,
  gpus: null,
  hourlyCostUsd: null,
});

/** The default policy's decision with no tasks at all, on this fleet. */
const idleDecision = (
  fleet: FleetWorker[],
  activity: { workerId: string; activeTasks: number; lastTaskAt: string | null }[] | null = null,
) =>
  decide({
    now: NOW,
    queued: 0,
    active: 0,
    activity,
    fleet,
    settings,
    policy: configuredPolicy(config),
    gpusPerWorker: 1,
    quoteUsdPerHour: null,
  });

describe('cancelling spawns no longer wanted', () => {
  const fleet = [spawning('a', 90), spawning('b', 60), spawning('c', 30), spawning('d', 30)];

  test('the first cycle of lower demand cancels nothing; the second cancels the excess, newest first', () => {
    const d = idleDecision(fleet);
    expect(d.desired).toBeLessThan(fleet.length);
    // demand was high last cycle: a dip of one cycle is not acted on
    const first = cancelUnwanted({ now: NOW, decision: d, fleet, activity: null, previousDesired: 4 });
    expect(first.cancel ?? []).toEqual([]);
    expect(first.decision).toBe(d.decision);
    // no decision before: nothing to compare with
    expect(
      cancelUnwanted({ now: NOW, decision: d, fleet, activity: null, previousDesired: null }).cancel ?? [],
    ).toEqual([]);
    const second = cancelUnwanted({ now: NOW, decision: d, fleet, activity: null, previousDesired: d.desired });
    const want = fleet.length - d.desired;
    expect(second.cancel?.map((t) => t.workerId)).toEqual(['d', 'c', 'b', 'a'].slice(0, want));
    expect(second.decision).toBe('SCALE_DOWN');
    expect(second.delta).toBe(want);
    expect(second.cancel?.[0].reason).toContain(
      `desired ${d.desired} (last cycle ${d.desired}) < 4 workers for 2 cycles`,
    );
    expect(second.reasons.at(-1)).toContain(`cancel ${want} spawning worker(s) no longer wanted, newest first`);
  });

  test('the reasons no longer say the cancelled workers were kept', () => {
    const d = idleDecision(fleet);
    expect(d.desired).toBe(0);
    expect(d.reasons).toContain(
      '4 worker(s) over desired kept: not idle for WARM_IDLE_SEC=240s, still spawning, or holding a task',
    );
    // all four cancelled: none is kept
    const all = cancelUnwanted({ now: NOW, decision: d, fleet, activity: null, previousDesired: 0 });
    expect(all.cancel).toHaveLength(4);
    expect(all.reasons.filter((r) => r.includes('over desired kept'))).toEqual([]);
    // two cancelled (last cycle wanted 2): two are kept
    const two = cancelUnwanted({ now: NOW, decision: d, fleet, activity: null, previousDesired: 2 });
    expect(two.reasons.filter((r) => r.includes('over desired kept'))).toEqual([
      '2 worker(s) over desired kept: not idle for WARM_IDLE_SEC=240s, still spawning, or holding a task',
    ]);
  });

  test('cancels only down to the larger desired count of the two cycles', () => {
    const d = idleDecision(fleet);
    const out = cancelUnwanted({ now: NOW, decision: d, fleet, activity: null, previousDesired: 2 });
    expect(out.cancel?.map((t) => t.workerId)).toEqual(['d', 'c']);
  });

  test('never cancels a worker that has started taking tasks', () => {
    const activity = [
      { workerId: 'd', activeTasks: 1, lastTaskAt: null },
      { workerId: 'c', activeTasks: 0, lastTaskAt: ago(5) },
    ];
    const d = idleDecision(fleet, activity);
    const out = cancelUnwanted({ now: NOW, decision: d, fleet, activity, previousDesired: 0 });
    expect(out.cancel?.map((t) => t.workerId)).not.toContain('d');
    expect(out.cancel?.map((t) => t.workerId)).not.toContain('c');
    expect(out.cancel?.map((t) => t.workerId)).toEqual(['b', 'a'].slice(0, fleet.length - Math.max(d.desired, 0)));
  });

  test('active workers are never cancelled (idle ones go by the idle rule)', () => {
    const active: FleetWorker = { ...spawning('z', 900), status: 'active', activeAt: ago(10) };
    const d = idleDecision([active]);
    const out = cancelUnwanted({ now: NOW, decision: d, fleet: [active], activity: null, previousDesired: 0 });
    expect(out.cancel ?? []).toEqual([]);
  });

  test('the action and explain say what was cancelled', () => {
    const d = idleDecision(fleet);
    const out = cancelUnwanted({ now: NOW, decision: d, fleet, activity: null, previousDesired: 0 });
    expect(actionText(out)).toBe(
      `🛑 CANCELLING ${out.cancel?.length} spawning workers no longer wanted (${out.cancel?.map((t) => t.workerId).join(', ')})`,
    );
    expect(cancelSentence(out.cancel ?? [])).toMatch(/^\d+ workers still spawning were cancelled, newest first \(d, c/);
  });
});

describe('ScalingDecided v4', () => {
  test('a v3 decision (before modes and cancellations) reads as active, cancelling nothing', () => {
    const d = idleDecision([]);
    const { cancel: _c, mode: _m, ...v3 } = { cycle: 1, at: NOW.toISOString(), queued: 0, active: 0, ...d, settings };
    const read = appRegistry.decode(1, 'ScalingDecided', 3, v3) as { mode: string; cancel: unknown[] };
    expect(read.mode).toBe('active');
    expect(read.cancel).toEqual([]);
    const shadow = appRegistry.decode(1, 'ScalingDecided', 4, { ...v3, mode: 'shadow', cancel: [] }) as {
      mode: string;
    };
    expect(shadow.mode).toBe('shadow');
    expect(() => appRegistry.encode('ScalingDecided', { ...v3, mode: 'dry-run' })).toThrow(/mode/);
  });
});
