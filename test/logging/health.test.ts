import type { DbLoggingStats } from '../../events/health';
import { assessDbLogging } from '../../src/logging/index';

const base: DbLoggingStats = {
  enabled: true,
  healthy: true,
  initError: null,
  sent: 100,
  failed: 0,
  dropped: 0,
  queueSize: 0,
  errorRate: 0,
};

describe('assessDbLogging', () => {
  test('healthy with no failures', () => {
    expect(assessDbLogging(base)).toEqual({ healthy: true, problems: [] });
  });

  test('an init error is a problem whatever the counters say', () => {
    const r = assessDbLogging({ ...base, initError: 'DatabaseError: relation "system_logs" does not exist' });
    expect(r).toEqual({
      healthy: false,
      problems: ['database logging initialization failed: DatabaseError: relation "system_logs" does not exist'],
    });
  });

  test('error rate: 10% exactly is still healthy, 25% is not', () => {
    expect(assessDbLogging({ ...base, sent: 90, failed: 10, errorRate: 0.1 }).healthy).toBe(true);
    expect(assessDbLogging({ ...base, sent: 75, failed: 25, errorRate: 0.25 })).toEqual({
      healthy: false,
      problems: ['database logging error rate 25.0% > 10% (25 of 100 rows failed)'],
    });
  });

  test('queue size above 1000 and more than 100 dropped are problems, each reported', () => {
    expect(assessDbLogging({ ...base, queueSize: 1000, dropped: 100 }).healthy).toBe(true);
    expect(assessDbLogging({ ...base, queueSize: 1001, dropped: 101 }).problems).toEqual([
      'database logging queue holds 1001 entries > 1000',
      'database logging dropped 101 entries > 100 (queue full)',
    ]);
  });

  test('thresholds can be changed; the healthy field of the input is ignored', () => {
    const stats = { ...base, healthy: false, sent: 95, failed: 5, errorRate: 0.05, queueSize: 20, dropped: 3 };
    expect(assessDbLogging(stats).healthy).toBe(true);
    expect(assessDbLogging(stats, { maxErrorRate: 0.025, maxQueueSize: 10, maxDropped: 2 }).problems).toEqual([
      'database logging error rate 5.0% > 2.5% (5 of 100 rows failed)',
      'database logging queue holds 20 entries > 10',
      'database logging dropped 3 entries > 2 (queue full)',
    ]);
  });
});
