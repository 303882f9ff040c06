import { BoundedQueue } from '../../src/logging/bounded-queue';
import { toSystemLogRow } from '../../src/logging/system-log-row';

describe('toSystemLogRow', () => {
  test('cycle -> cycle_number, workerId -> worker_id, the rest -> metadata', () => {
    const row = toSystemLogRow(
      {
        level: 'crit',
        message: 'spawned',
        timestamp: '2024-05-01T12:00:00.000Z',
        cycle: 12,
        workerId: 'w1',
        pod: 'p-9',
      },
      'orchestrator',
      'host-1',
    );
    expect(row).toEqual({
      created_at: '2024-05-01T12:00:00.000Z',
      source_type: 'orchestrator',
      source_id: 'host-1',
      log_level: 'crit',
      message: 'spawned',
      worker_id: 'w1',
      cycle_number: 12,
      metadata: { pod: 'p-9' },
    });
  });

  test('a cycle or workerId that does not fit its column stays in metadata; NUL bytes are replaced', () => {
    const row = toSystemLogRow(
      { level: 'info', message: 'a\u0000b', cycle: 2 ** 40, workerId: { id: 1 }, note: 'x\u0000' },
      'orchestrator',
      'h',
    );
    expect(row.cycle_number).toBeNull();
    expect(row.worker_id).toBeNull();
    expect(row.message).toBe('a\uFFFDb');
    expect(row.metadata).toEqual({ cycle: 2 ** 40, workerId: { id: 1 }, note: 'x\uFFFD' });
  });
});

describe('BoundedQueue', () => {
  test('drops the oldest entry when full and says so', () => {
    const q = new BoundedQueue<number>(3);
    expect([1, 2, 3].map((n) => q.push(n))).toEqual([0, 0, 0]);
    expect(q.push(4)).toBe(1);
    expect(q.length).toBe(3);
    expect(q.take(2)).toEqual([2, 3]);
    expect(q.take(5)).toEqual([4]);
    expect(q.length).toBe(0);
  });

  test('stays correct across many pushes and takes', () => {
    const q = new BoundedQueue<number>(5000);
    const seen: number[] = [];
    for (let i = 0; i < 20_000; i += 1) {
      q.push(i);
      if (i % 3 === 0) seen.push(...q.take(2));
    }
    seen.push(...q.take(10_000));
    // everything taken is increasing, and the last 5000 pushed were never dropped
    expect(seen.every((n, i) => i === 0 || n > seen[i - 1])).toBe(true);
    expect(seen.slice(-5000)).toEqual(Array.from({ length: 5000 }, (_, i) => 15_000 + i));
  });
});
