import {
  type PoolWorker,
  parkChoice,
  pickToUnpark,
  startFigures,
  startFiguresText,
  toRetire,
} from '../../src/reactor/parking';

const S = { max: 2, maxAgeSec: 3600, hourlyUsd: 0.01 };
const w = (id: string, parkedAt: string | null, o: Partial<PoolWorker> = {}): PoolWorker => ({
  workerId: id,
  podId: `pod-${id}`,
  status: 'parked',
  parkedAt,
  unparks: 0,
  unparkSlot: null,
  hourlyCostUsd: 0.5,
  position: 1,
  ...o,
});

describe('parking choices (pure)', () => {
  test('park while fewer than PARKED_MAX are parked, with a pod and a provider that parks; say why not otherwise', () => {
    expect(parkChoice(S, { parkedNow: 1, providerParks: true, hasPod: true })).toEqual({
      park: true,
      why: 'parked 2 of PARKED_MAX=2',
    });
    expect(parkChoice(S, { parkedNow: 2, providerParks: true, hasPod: true })).toEqual({
      park: false,
      why: '2 parked already, PARKED_MAX=2',
    });
    expect(parkChoice({ ...S, max: 0 }, { parkedNow: 0, providerParks: true, hasPod: true }).park).toBe(false);
    expect(parkChoice(S, { parkedNow: 0, providerParks: false, hasPod: true }).why).toBe(
      'the provider cannot stop and start pods',
    );
    expect(parkChoice(S, { parkedNow: 0, providerParks: true, hasPod: false }).park).toBe(false);
  });

  test('the most recently parked first (ties: the later event); never a live one, never one dearer than what the cost cap leaves', () => {
    const pool = [
      w('old', '2026-12-06T01:00:00.000Z'),
      w('new', '2026-12-06T02:00:00.000Z', { position: 5 }),
      w('new-earlier-event', '2026-12-06T02:00:00.000Z', { position: 3 }),
      w('live', '2026-12-06T03:00:00.000Z', { status: 'active' }),
    ];
    expect(pickToUnpark(pool, null)?.workerId).toBe('new');
    expect(pickToUnpark(pool, 0.4)).toBeNull();
    expect(pickToUnpark([w('x', null, { podId: null })], null)).toBeNull();
  });

  test('retire pods parked past PARKED_MAX_AGE_SEC, then the oldest beyond PARKED_MAX', () => {
    const now = new Date('2026-12-06T03:00:00.000Z');
    const pool = [
      w('a', '2026-12-06T01:00:00.000Z'),
      w('b', '2026-12-06T02:30:00.000Z'),
      w('c', '2026-12-06T02:40:00.000Z'),
      w('d', '2026-12-06T02:50:00.000Z'),
    ];
    expect(toRetire(pool, now, S).map((r) => [r.worker.workerId, r.reason, r.why])).toEqual([
      ['a', 'lifetime', 'parked for 2 h, over PARKED_MAX_AGE_SEC=3600'],
      ['b', 'idle', 'more parked pods than PARKED_MAX=2: the oldest go'],
    ]);
  });

  test('start figures: the share refused and start-to-ready of unparked against cold, from the events', () => {
    const f = startFigures([
      { type: 'WorkerSpawnRequested', workerId: 'c1', at: '2026-12-06T00:00:00.000Z' },
      { type: 'WorkerActivated', workerId: 'c1', at: '2026-12-06T00:02:00.000Z' },
      { type: 'WorkerUnparked', workerId: 'p1', at: '2026-12-06T00:10:00.000Z' },
      { type: 'WorkerUnparkRefused', workerId: 'p2', at: '2026-12-06T00:10:00.000Z' },
      { type: 'WorkerSpawnRequested', workerId: 'c2', at: '2026-12-06T00:10:01.000Z' },
      { type: 'WorkerActivated', workerId: 'p1', at: '2026-12-06T00:10:20.000Z' },
      { type: 'WorkerActivated', workerId: 'c2', at: '2026-12-06T00:11:31.000Z' },
    ]);
    expect(f).toEqual({
      unparked: 1,
      refused: 1,
      refusedShare: 0.5,
      unparkedReady: { n: 1, p50: 20, p95: 20 },
      coldReady: { n: 2, p50: 90, p95: 120 },
    });
    expect(startFiguresText(f)).toBe(
      '1 of 2 starts of parked pods refused (50%); start to ready: unparked median 20 s, p95 20 s (1), cold median 90 s, p95 2 min (2)',
    );
  });
});

describe('what-if reads a parked worker as ended when it was parked', () => {
  test('its GPU is not counted past its parking', async () => {
    const { recordedWorkers } = await import('../../src/what-if/record');
    const ev = (type: string, data: Record<string, unknown>, position: number) =>
      ({ type, data, globalPosition: position, metadata: { cycle: 1 } }) as never;
    const workers = recordedWorkers([
      ev(
        'WorkerSpawnRequested',
        {
          workerId: 'w',
          at: '2026-12-06T00:00:00.000Z',
          cycle: 1,
          decisionEventId: 'd',
          ordinal: 1,
          of: 1,
          idempotencyKey: 'w',
          provider: 'runpod',
          gpus: 1,
        },
        1,
      ),
      ev('WorkerActivated', { workerId: 'w', at: '2026-12-06T00:01:00.000Z', podId: 'p' }, 2),
      ev('WorkerParked', { workerId: 'w', at: '2026-12-06T00:10:00.000Z', podId: 'p' }, 3),
    ]);
    expect(workers.map((w) => w.endedAt)).toEqual(['2026-12-06T00:10:00.000Z']);
  });
});
