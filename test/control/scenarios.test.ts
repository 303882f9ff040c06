import fs from 'node:fs';
import { ALL_PROJECTIONS, foldAll } from '../../projections/index';
import { pgliteBackend, postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { decided, forEachBackend, type Harness, harness } from '../helpers/harness';

// biome-ignore lint/suspicious/noExplicitAny: event data in assertions
type Any = any;

const normalise = (v: unknown): unknown => {
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}/.test(v)) return new Date(v).toISOString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(normalise);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]));
  return v;
};

/** Every projection table equals the pure fold of the events. */
async function expectTablesEqualFold(h: Harness): Promise<void> {
  const events = await h.events();
  for (const p of ALL_PROJECTIONS) {
    const folded = [...foldAll(p, events).values()].map(normalise);
    const rows = await h.store.db.query<{ r: unknown }>(`select to_jsonb(t) as r from ${p.table} t`);
    const key = (r: Any) => String(r[p.key]);
    const sort = (xs: Any[]) => xs.sort((a, b) => key(a).localeCompare(key(b)));
    expect(sort(rows.map((r) => normalise(r.r)) as Any[])).toEqual(sort(folded as Any[]));
  }
}

async function systemLogs(h: Harness): Promise<{ log_level: string; message: string; cycle_number: number | null }[]> {
  await h.logging.flush();
  return h.store.db.query('select log_level, message, cycle_number from system_logs order by id');
}

forEachBackend(
  'operator scenarios',
  { pglite: pgliteBackend, postgres: () => postgresBackend(), hasServer: !!TEST_DATABASE_URL },
  (backend) => {
    let h: Awaited<ReturnType<typeof harness>>;
    afterEach(async () => {
      await h?.close();
    });

    test('normal operation: 2 tasks, 2 workers, MAINTAIN, no anomaly', async () => {
      h = await harness(backend());
      h.source.set(2);
      const first = await h.cycle();
      expect(first).toMatchObject({ kind: 'decided', decision: { decision: 'SCALE_UP', delta: 2 } });
      h.clock.advance(15_000); // pods start within 10 s
      const out = decided(await h.cycle());
      expect(out.decision).toMatchObject({
        decision: 'MAINTAIN',
        delta: 0,
        desired: 2,
        current: { active: 2, spawning: 0, total: 2 },
      });
      expect(out.anomalies).toEqual([]);

      const decisions = await h.events('ScalingDecided');
      expect(decisions.map((e) => e.data.decision)).toEqual(['SCALE_UP', 'MAINTAIN']);
      expect(await h.events('AnomalyDetected')).toEqual([]);
      const workers = await h.store.db.query<{ status: string }>('select status from workers order by worker_id');
      expect(workers.map((w) => w.status)).toEqual(['active', 'active']);
      const rows = await h.store.db.query<{ cycle: number; decision: string; desired: number }>(
        'select cycle, decision, desired from scaling_decisions order by cycle',
      );
      expect(rows).toEqual([
        { cycle: 1, decision: 'SCALE_UP', desired: 2 },
        { cycle: 2, decision: 'MAINTAIN', desired: 2 },
      ]);
      // the operators' one-liners, at crit, everywhere
      expect(h.stdout.text).toContain('🔢 TASK COUNT (Cycle #2): Queued=2, Active=0, Total=2');
      expect(h.stdout.text).toContain('🎯 SCALING DECISION (Cycle #2): Current=2+0, Desired=2');
      expect(h.stdout.text).toContain('Decision: MAINTAIN');
      expect(h.stderr.lines().filter((l) => l.includes('TASK COUNT cycle=2'))).toHaveLength(1);
      expect(h.stderr.text).toContain('SCALING DECISION cycle=2 current=2+0 desired=2 decision=MAINTAIN');
      const logs = await systemLogs(h);
      expect(logs).toContainEqual({
        log_level: 'crit',
        message: '🔢 TASK COUNT (Cycle #2): Queued=2, Active=0, Total=2',
        cycle_number: 2,
      });
      await h.logging.close();
      const file = fs.readFileSync(h.logFile, 'utf8');
      expect(file).toContain('🎯 SCALING DECISION (Cycle #2): Current=2+0, Desired=2');
      await expectTablesEqualFold(h);
    });

    test('legitimate scale-up: 2 -> 20 tasks spawns 18 workers and raises a rapid scale-up alert', async () => {
      h = await harness(backend(), { env: { MAX_WORKERS: '20', MAX_ACTIVE_GPUS: '20' } });
      h.source.set(2);
      await h.cycle();
      h.clock.advance(15_000);
      await h.cycle();
      h.source.set(20);
      const out = decided(await h.cycle());
      expect(out.decision).toMatchObject({ decision: 'SCALE_UP', delta: 18, desired: 20, limits: [] });
      expect(out.anomalies.map((a) => a.kind)).toEqual(['rapid_scale_up']);
      const spawned = (await h.events('WorkerSpawned')).map((e) => e.data);
      expect(spawned).toHaveLength(20);
      expect(spawned.filter((s) => s.of === 18).map((s) => s.ordinal)).toEqual(
        Array.from({ length: 18 }, (_, i) => i + 1),
      );
      expect(h.provider.created).toHaveLength(20);
      expect(h.stdout.text).toContain('🚀 SCALING UP: Creating 18 new workers');
      expect(h.stdout.text).toContain('✅ Worker 18/18 spawned successfully');
      expect(h.stdout.text).toContain('🚨 ANOMALY DETECTED: Rapid scale-up: 18 workers in one cycle');
      expect(h.stderr.text).toContain('ANOMALY cycle=3 kind=rapid_scale_up');
      const anomalies = await h.store.db.query<{ kind: string; cycle: number }>('select kind, cycle from anomalies');
      expect(anomalies).toEqual([{ kind: 'rapid_scale_up', cycle: 3 }]);
      await expectTablesEqualFold(h);
    });

    test('spurious scale-up: 0 -> 51 with MAX_ACTIVE_GPUS=4 wants 10, is capped to 4, alerts, spawns 4', async () => {
      h = await harness(backend(), { env: { MAX_ACTIVE_GPUS: '4' } });
      h.source.set(0);
      await h.cycle();
      h.source.set(51);
      const out = decided(await h.cycle());
      expect(out.decision).toMatchObject({
        total: 51,
        desiredBeforeCaps: 51,
        requested: 10,
        desired: 4,
        decision: 'SCALE_UP',
        delta: 4,
        limits: [
          { name: 'MAX_WORKERS', kind: 'cap', unit: 'workers', value: 10, from: 51, to: 10 },
          { name: 'MAX_ACTIVE_GPUS', kind: 'cap', unit: 'GPUs', value: 4, from: 10, to: 4 },
        ],
      });
      expect(out.anomalies.map((a) => a.kind).sort()).toEqual(['rapid_scale_up', 'task_count_from_nowhere']);
      const spawned = (await h.events('WorkerSpawned')).map((e) => e.data);
      expect(spawned.map((s) => `${s.ordinal}/${s.of}`)).toEqual(['1/4', '2/4', '3/4', '4/4']);
      expect(h.provider.created).toHaveLength(4);
      expect(h.stdout.text).toContain(
        '🚀 SCALING UP: Creating 4 new workers (desired 51 capped to 4 by MAX_WORKERS=10, then MAX_ACTIVE_GPUS=4)',
      );
      expect(h.stdout.text).toContain(
        'Decision: SCALE UP by 4 (desired 51 capped to 4 by MAX_WORKERS=10, then MAX_ACTIVE_GPUS=4)',
      );
      expect(h.stdout.text).toContain('🚨 ANOMALY DETECTED: Task count jumped from 0 to 51');
      expect(h.stdout.text).toContain('✅ Worker 4/4 spawned successfully');
      expect(h.stderr.text).toContain(
        '🚀 SCALING UP: Creating 4 new workers (desired 51 capped to 4 by MAX_WORKERS=10, then MAX_ACTIVE_GPUS=4)',
      );
      expect(h.stderr.text).toContain('SCALING DECISION cycle=2 current=0+0 desired=4 decision=SCALE_UP delta=4');
      const row = await h.store.db.query<Any>(
        'select requested, desired, capped_by, decision, delta from scaling_decisions where cycle = 2',
      );
      expect(row).toEqual([
        { requested: 10, desired: 4, capped_by: 'MAX_WORKERS,MAX_ACTIVE_GPUS', decision: 'SCALE_UP', delta: 4 },
      ]);
      const workers = await h.store.db.query<Any>(
        'select status, ordinal, of_total, cycle from workers order by ordinal',
      );
      expect(workers).toEqual([1, 2, 3, 4].map((i) => ({ status: 'spawning', ordinal: i, of_total: 4, cycle: 2 })));
      const logs = await systemLogs(h);
      expect(logs.map((l) => l.message)).toContain(
        '🚨 ANOMALY DETECTED: Task count jumped from 0 to 51\n' +
          (out.anomalies.find((a) => a.kind === 'task_count_from_nowhere') as Any).causes
            .join('; ')
            .replace(/^/, '   Possible causes: '),
      );
      await h.logging.close();
      expect(fs.readFileSync(h.logFile, 'utf8')).toContain(
        '(desired 51 capped to 4 by MAX_WORKERS=10, then MAX_ACTIVE_GPUS=4)',
      );
      await expectTablesEqualFold(h);
    });

    test('database logging failure: critical error, error file, failing health checks, loop keeps running', async () => {
      h = await harness(backend(), {
        beforeLogging: async (store) => {
          await store.db.exec('drop table system_logs');
        },
      });
      expect(h.stdout.text).toMatch(/❌ CRITICAL: Database logging initialization FAILED: \w+/);
      expect(fs.readFileSync(h.errorsFile, 'utf8')).toMatch(/system_logs/);
      h.source.set(1);
      for (let i = 0; i < 20; i++) await h.cycle();
      expect(h.system.controller.cycle).toBe(20);
      const checks = (await h.events('HealthChecked')).map((e) => e.data);
      expect(checks.map((c) => [c.cycle, c.status])).toEqual([
        [10, 'failing'],
        [20, 'failing'],
      ]);
      expect(checks[0].dbLogging.initError).toMatch(/system_logs/);
      expect(checks[0].problems[0]).toMatch(/database logging initialization failed/);
      const summaries = await h.store.db.query<Any>(
        'select cycle, db_logging_healthy, last_total from health_summaries',
      );
      expect(summaries).toEqual([{ cycle: 20, db_logging_healthy: false, last_total: 1 }]);
      expect(h.stdout.text).toContain('HEALTH CHECK (Cycle #10): FAILING');
      expect(h.stdout.text).toContain('📊 HEALTH SUMMARY (Cycle #20):');
      expect(h.stderr.text).toContain('HEALTH CHECK (Cycle #20): FAILING');
      await expectTablesEqualFold(h);
    });
  },
);
