import type { DataOf } from '../../events/index';
import { reportText } from '../../src/cli/shadow-report';
import { shadowReport } from '../../src/shadow/report';

const T0 = Date.parse('2026-11-27T18:00:00.000Z');
const at = (sec: number) => new Date(T0 + sec * 1000).toISOString();

const listed = (cycle: number, podIds: string[]): DataOf<'FleetObserved'> => ({
  at: at((cycle - 1) * 30),
  cycle,
  pool: 'default',
  provider: 'simulated',
  pods: podIds.length,
  running: podIds.length,
  gpus: podIds.length,
  podIds,
});
const intend = (cycle: number, action: 'spawn' | 'terminate', workerId: string): DataOf<'ActionIntended'> => ({
  at: at((cycle - 1) * 30 + 1),
  cycle,
  pool: 'default',
  decisionEventId: `d${cycle}`,
  action,
  workerId,
  podId: null,
  gpus: 1,
  hourlyCostUsd: null,
  reason: action === 'spawn' ? 'scale_up' : 'idle',
  detail: '',
});
const observed = (cycle: number, queued: number, active: number) => ({
  cycle,
  at: at((cycle - 1) * 30),
  queued,
  active,
});

const round3 = (x: number) => Math.round(x * 1000) / 1000;

describe('shadow-report', () => {
  // the fleet something else runs: a, then a+b, then b alone
  const fleet = [listed(1, ['a']), listed(2, ['a', 'b']), listed(3, ['a', 'b']), listed(4, ['b']), listed(5, ['b'])];
  // what gpu-scaler would have done: two spawns in cycle 1, one termination in cycle 3, a spawn in cycle 4
  const intended = [
    intend(1, 'spawn', 'w1'),
    intend(1, 'spawn', 'w2'),
    intend(3, 'terminate', 'w2'),
    intend(4, 'spawn', 'w3'),
  ];
  const tasks = [observed(1, 3, 0), observed(2, 1, 1), observed(3, 0, 1), observed(4, 0, 0), observed(5, 2, 0)];
  const report = shadowReport({
    from: new Date(T0),
    to: new Date(T0 + 150_000),
    intended,
    listed: fleet,
    observed: tasks,
  });

  test('GPU-hours, spawns and terminations of each, cycle by cycle', () => {
    // would-be GPUs as each cycle decided from them: 0, 2, 2, 1, 2; actual: 1, 2, 2, 1, 1; 30 s each
    expect(report.cycles).toBe(5);
    expect(report.coveredSec).toBe(150);
    expect(report.gaps).toBe(0);
    expect(report.gpuHours).toEqual({ wouldBe: 0.058, actual: 0.058 });
    expect(report.spawns).toEqual({ wouldBe: 3, actual: 1 });
    expect(report.terminations).toEqual({ wouldBe: 1, actual: 1 });
    expect(report.peakGpus).toEqual({ wouldBe: 2, actual: 2 });
    expect(report.cyclesWouldBe).toEqual({ more: 1, fewer: 1, same: 3 });
  });

  test('the moments they disagreed most, with the tasks then', () => {
    expect(report.disagreements).toEqual([
      { cycle: 1, at: at(0), wouldBeGpus: 0, actualGpus: 1, difference: -1, queued: 3, active: 0 },
      { cycle: 5, at: at(120), wouldBeGpus: 2, actualGpus: 1, difference: 1, queued: 2, active: 0 },
    ]);
  });

  test('the waits the tasks saw', () => {
    expect(report.waits).toEqual({
      observations: 5,
      queuedTaskHours: 0.05, // (3 + 1 + 0 + 0 + 2) x 30 s
      peakQueued: 3,
      peakQueuedAt: at(0),
      cyclesWithQueued: 3,
      longestWaitingStretchSec: 60,
      waitingWhileWouldBeLarger: 1,
    });
  });

  test('the waits are those of the cycles compared: not of cycles before the switch to shadow (gpu-scaler acting then)', () => {
    // shadow from cycle 3 on: cycles 1 and 2 were active, with 3 and 1 tasks queued
    const r = shadowReport({
      from: new Date(T0),
      to: new Date(T0 + 150_000),
      intended: [],
      listed: fleet.slice(2),
      observed: tasks,
    });
    expect(r.cycles).toBe(3);
    expect(r.waits).toMatchObject({
      observations: 3,
      queuedTaskHours: round3((2 * 30) / 3600), // cycle 5's 2 queued for a typical 30 s
      peakQueued: 2,
      peakQueuedAt: at(4 * 30),
      cyclesWithQueued: 1,
    });
  });

  test('a gap while the service was down counts as five cycles', () => {
    const gapped = [...fleet, listed(100, ['b'])];
    const r = shadowReport({
      from: new Date(T0),
      to: new Date(T0 + 99 * 30_000),
      intended,
      listed: gapped,
      observed: [],
    });
    expect(r.gaps).toBe(1);
    // cycle 5 counts 5 x 30 s instead of 95 x 30 s; the last listing is at the window's end
    expect(r.coveredSec).toBe(4 * 30 + 150);
  });

  test('intended actions before the window make the would-be fleet it starts with', () => {
    const r = shadowReport({
      from: new Date(T0 + 30_000),
      to: new Date(T0 + 150_000),
      intended,
      listed: fleet,
      observed: tasks,
    });
    expect(r.cycles).toBe(4);
    expect(r.spawns.wouldBe).toBe(1); // w3 only: w1 and w2 were intended before the window
    expect(r.disagreements.map((m) => m.cycle)).toEqual([5]);
  });

  test('the text names each figure', () => {
    const text = reportText(report, true);
    expect(text).toContain('  GPU-hours      0.06 GPU-h                0.06 GPU-h');
    expect(text).toContain('  spawns         3                         1');
    expect(text).toContain(
      'cycle #5: +1 (would be 2, was 1); tasks 2 queued + 0 active  (gpu-scaler explain --cycle 5)',
    );
    expect(text).toContain('in 1 cycle(s) tasks waited while gpu-scaler would have had more GPUs');
  });
});
