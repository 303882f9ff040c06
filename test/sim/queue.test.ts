import { decide as decideWithCaps } from '../../src/control/policy';
import { defaultPolicy } from '../../src/policies/default';
import type { PolicyView } from '../../src/policies/policy';
import { QueueModel } from '../../src/sim/queue';
import { parseTrace, TraceError } from '../../src/sim/trace';

describe('queue model', () => {
  it('one task waits for the first pod to be up', () => {
    const q = new QueueModel([{ arrival: 0, run: 10 }]);
    q.addWorker('a', 100);
    q.advanceTo(200);
    expect(q.waits()).toEqual([100]);
    expect(q.finished[0]).toBe(110);
    expect(q.drained).toBe(true);
  });

  it('a burst larger than the fleet is served in arrival order as workers free up', () => {
    const q = new QueueModel([
      { arrival: 0, run: 10 },
      { arrival: 0, run: 10 },
      { arrival: 1, run: 5 },
    ]);
    q.addWorker('a', 0);
    q.addWorker('b', 0);
    q.advanceTo(0);
    expect([q.queued, q.active]).toEqual([0, 2]);
    q.advanceTo(5);
    expect([q.queued, q.active]).toEqual([1, 2]);
    q.advanceTo(30);
    expect(q.waits()).toEqual([0, 0, 9]);
    expect(q.finished[2]).toBe(15);
  });

  it('the most recently idle worker takes the next task', () => {
    const q = new QueueModel([{ arrival: 10, run: 1 }]);
    q.addWorker('old', 0);
    q.addWorker('new', 5);
    q.advanceTo(20);
    const byId = new Map(q.workerList().map((w) => [w.id, w]));
    expect(byId.get('new')?.lastTaskAt).toBe(11);
    expect(byId.get('old')?.lastTaskAt).toBeNull();
  });

  it('a task of a removed worker goes back to the front of the queue', () => {
    const q = new QueueModel([
      { arrival: 0, run: 100 },
      { arrival: 1, run: 1 },
    ]);
    q.addWorker('a', 0);
    q.advanceTo(10);
    q.removeWorker('a');
    q.addWorker('b', 20);
    q.advanceTo(20);
    expect(q.started[0]).toBe(20);
    expect(q.queued).toBe(1);
  });
});

describe('trace parsing', () => {
  it('reads ISO times (UTC, fractions cut to ms) and seconds, in arrival order', () => {
    const t = parseTrace('when,secs\n2024-12-05 21:00:09.1234567,5\n2024-12-05 21:00:08,2\n', {
      timeColumn: 'when',
      durationColumn: 'secs',
    });
    expect(t.start.toISOString()).toBe('2024-12-05T21:00:08.000Z');
    expect(t.tasks).toEqual([
      { arrival: 0, run: 2 },
      { arrival: 1.123, run: 5 },
    ]);
    const s = parseTrace('arrival,duration\n10,1\n0,2\n');
    expect(s.tasks.map((x) => x.arrival)).toEqual([0, 10]);
  });

  it('models run time from tokens', () => {
    const t = parseTrace('t,in,out\n0,1000,10\n', {
      timeColumn: 't',
      tokens: { prefillTps: 10000, decodeTps: 50, inputColumn: 'in', outputColumn: 'out' },
    });
    expect(t.tasks[0].run).toBeCloseTo(0.1 + 0.2, 10);
  });

  it('reports bad rows with their line numbers and stops over the allowed share', () => {
    const csv = 'arrival,duration\n0,1\nsoon,2\n3,-1\n4,4\n';
    const t = parseTrace(csv, { maxBadShare: 0.5 });
    expect(t.bad).toEqual([
      { line: 3, reason: 'arrival "soon" is neither seconds from the start nor an ISO timestamp' },
      { line: 4, reason: 'duration -1 is negative' },
    ]);
    expect(t.tasks).toHaveLength(2);
    expect(() => parseTrace(csv, { maxBadShare: 0.1 })).toThrow(TraceError);
    expect(() => parseTrace(csv, { maxBadShare: 0.1 })).toThrow(/2 of 4 rows are bad .*line 3: arrival "soon"/);
    expect(() => parseTrace('a,b\n1,2\n', { timeColumn: 'x' })).toThrow(
      '--time-column x: the trace has no column "x"; its columns are a, b',
    );
  });
});

describe('default policy', () => {
  const settings = { WARM_LOOKBACK_SEC: 300, WARM_HEADROOM: 0.5, WARM_QUEUE_SHARE: 0.7, WARM_IDLE_SEC: 240 };
  const view = (o: Partial<PolicyView>): PolicyView => ({
    now: new Date('2026-01-01T00:10:00Z'),
    cycle: 20,
    queued: 0,
    active: 0,
    workers: { total: 0, active: 0, spawning: 0, busy: 0, idle: 0 },
    gpusPerWorker: 1,
    recent: [],
    ...o,
  });

  it('wants nothing when nothing ran recently and nothing waits', () => {
    expect(defaultPolicy.decide(view({}), settings).desired).toBe(0);
  });

  it('answers a queue with busy workers plus a share of it', () => {
    const d = defaultPolicy.decide(
      view({ queued: 10, active: 2, workers: { total: 2, active: 2, spawning: 0, busy: 2, idle: 0 } }),
      settings,
    );
    // warm: mean active 2 -> ceil(2 + 0.5 x sqrt 2) = 3; byQueue: 2 + ceil(10 x 0.7) = 9
    expect(d.terms.map((t) => [t.name, t.value])).toEqual([
      ['warm', 3],
      ['byQueue', 9],
    ]);
    expect(d.desired).toBe(9);
  });

  it('keeps a warm pool sized from the recent running tasks', () => {
    const recent = [4, 4, 4, 4].map((active, i) => ({ at: `2026-01-01T00:0${5 + i}:00.000Z`, queued: 0, active }));
    // now 0 running: mean of 4,4,4,4,0 = 3.2 -> ceil(3.2 + 0.5 x sqrt(3.2)) = ceil(4.09) = 5
    expect(defaultPolicy.decide(view({ recent }), settings).desired).toBe(5);
  });

  it('gives its own idle time before scale-down: WARM_IDLE_SEC', () => {
    expect(defaultPolicy.decide(view({}), settings).scaleDownIdle).toEqual({ sec: 240, setting: 'WARM_IDLE_SEC' });
    expect(defaultPolicy.decide(view({}), { ...settings, WARM_IDLE_SEC: 120 }).scaleDownIdle?.sec).toBe(120);
  });

  it('through the caps: a worker idle 250 s goes under WARM_IDLE_SEC=240, one idle 200 s stays', () => {
    const at = (sec: number) => new Date(Date.parse('2026-01-01T00:10:00Z') - sec * 1000).toISOString();
    const w = (id: string, idleSec: number) => ({
      workerId: id,
      podId: `pod-${id}`,
      status: 'active' as const,
      requestedAt: at(idleSec + 60),
      activeAt: at(idleSec),
      gpus: 1,
      hourlyCostUsd: null,
    });
    const r = decideWithCaps({
      now: new Date('2026-01-01T00:10:00Z'),
      queued: 0,
      active: 0,
      activity: [
        { workerId: 'a', activeTasks: 0, lastTaskAt: null },
        { workerId: 'b', activeTasks: 0, lastTaskAt: null },
      ],
      fleet: [w('a', 250), w('b', 200)],
      settings: {
        MAX_WORKERS: 10,
        MAX_ACTIVE_GPUS: 10,
        GPU_IDLE_TIMEOUT_SEC: 300,
        SPAWNING_TIMEOUT_SEC: 600,
        WORKER_MAX_LIFETIME_SEC: null,
        MAX_HOURLY_COST_USD: null,
      },
      policy: { policy: defaultPolicy, settings },
      gpusPerWorker: 1,
      quoteUsdPerHour: null,
    });
    // nothing ran in the lookback and nothing waits: desired 0; only a is idle >= 240 s
    expect(r.desired).toBe(0);
    expect(r.terminate.map((t) => [t.workerId, t.reason])).toEqual([['a', 'idle 250s >= WARM_IDLE_SEC=240']]);
    expect(r.policy.scaleDownIdle).toEqual({ sec: 240, setting: 'WARM_IDLE_SEC' });
  });
});
