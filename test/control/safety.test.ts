import { MemoryLog } from '../../src/control/log';
import { Reactor } from '../../src/reactor/reactor';
import type { EventStore, NewEvent } from '../../src/store/event-store';
import { pgliteBackend, postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { forEachBackend, harness } from '../helpers/harness';

// biome-ignore lint/suspicious/noExplicitAny: event data in assertions
type Any = any;

/** A store whose process "dies" when it is about to record one particular event. */
function crashingStore(store: EventStore, crashOn: (e: NewEvent) => boolean): EventStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'append') {
        return async (stream: string, events: NewEvent[], opts: Any) => {
          if (events.some(crashOn)) throw new Error('process killed');
          return target.append(stream, events, opts);
        };
      }
      const v = (target as Any)[prop];
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

forEachBackend(
  'safety',
  { pglite: pgliteBackend, postgres: () => postgresBackend(), hasServer: !!TEST_DATABASE_URL },
  (backend) => {
    let h: Awaited<ReturnType<typeof harness>>;
    afterEach(async () => {
      await h?.close();
    });

    test('a reactor killed between a provider spawn and its event spawns nothing twice after a restart', async () => {
      h = await harness(backend(), { env: { MAX_ACTIVE_GPUS: '4' } });
      h.source.set(4);
      await h.system.controller.runCycle();
      const log = new MemoryLog();
      const dying = new Reactor({
        store: crashingStore(h.store, (e) => e.type === 'WorkerSpawned' && e.data.ordinal === 2),
        provider: h.provider,
        clock: h.clock,
        log,
      });
      await expect(dying.catchUp()).rejects.toThrow('process killed');
      expect(h.provider.created).toHaveLength(2); // pod 2 exists, its event does not
      expect(await h.events('WorkerSpawned')).toHaveLength(1);

      const restarted = new Reactor({ store: h.store, provider: h.provider, clock: h.clock, log });
      expect(await restarted.catchUp()).toBeGreaterThan(0);
      expect(h.provider.created).toHaveLength(4);
      expect(new Set(h.provider.created).size).toBe(4);
      expect((await h.provider.list()).length).toBe(4);
      const spawned = (await h.events('WorkerSpawned')).map((e) => e.data);
      expect(spawned.map((s) => [s.ordinal, s.recovered])).toEqual([
        [1, false],
        [2, true],
        [3, false],
        [4, false],
      ]);
      expect(await h.events('WorkerSpawnRequested')).toHaveLength(4);
      // a third start has nothing left to do
      const again = new Reactor({ store: h.store, provider: h.provider, clock: h.clock, log });
      await again.catchUp();
      expect(h.provider.created).toHaveLength(4);
      expect(await h.events('WorkerSpawned')).toHaveLength(4);
    });

    test('a decision is held while the reactor has not acted on the previous one (no double spawn)', async () => {
      h = await harness(backend());
      h.source.set(3);
      const first = await h.system.controller.runCycle();
      expect(first).toMatchObject({ kind: 'decided', decision: { decision: 'SCALE_UP', delta: 3 } });
      h.clock.advance(30_000);
      const second = await h.system.controller.runCycle(); // the reactor has not run yet
      expect(second).toMatchObject({ kind: 'decided', held: true, decision: { decision: 'MAINTAIN', delta: 0 } });
      if (second.kind === 'decided') expect(second.decision.reasons.join(' ')).toMatch(/held: the reactor/);
      await h.system.reactor.catchUp();
      await h.system.projections.catchUp();
      expect(h.provider.created).toHaveLength(3);
      h.clock.advance(30_000);
      const third = await h.cycle();
      expect(third).toMatchObject({ kind: 'decided', held: false, decision: { decision: 'MAINTAIN' } });
      expect(h.provider.created).toHaveLength(3);
    });

    test('an open transaction elsewhere in the cluster never makes the controller spawn twice', async () => {
      h = await harness(backend());
      h.source.set(3);
      const first = await h.system.controller.runCycle();
      expect(first).toMatchObject({ kind: 'decided', decision: { decision: 'SCALE_UP', delta: 3 } });
      if (!backend().concurrent) return; // PGlite: one connection, no other transaction can be open
      const blocker = await backend().openDb();
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let opened!: () => void;
      const isOpen = new Promise<void>((r) => {
        opened = r;
      });
      const tx = blocker.transaction(async (t) => {
        await t.query('select pg_current_xact_id()'); // takes a transaction id and holds it
        opened();
        await held;
      });
      try {
        await isOpen;
        await h.system.reactor.catchUp(); // the decision is older than the blocker: it is acted on
        expect(h.provider.created).toHaveLength(3);
        await h.system.projections.catchUp(); // the spawn events are newer: catch-up readers wait
        const [{ n }] = await h.store.db.query<{ n: number }>('select count(*)::bigint as n from workers');
        expect(n).toBe(0);
        h.clock.advance(30_000);
        const second = await h.system.controller.runCycle();
        expect(second).toMatchObject({
          kind: 'decided',
          decision: { decision: 'MAINTAIN', current: { total: 3 } },
        });
        await h.system.reactor.catchUp();
        expect(h.provider.created).toHaveLength(3);
      } finally {
        release();
        await tx;
        await blocker.close();
      }
    });

    test.each([
      ['a negative count', { queued: -3, active: 0 }, /queued: negative/],
      ['NaN', { queued: Number.NaN, active: 0 }, /queued: .*(finite|number)/],
      ['a string', { queued: '51', active: 0 }, /queued: not a number \(got string\)/],
      ['a missing field', { queued: 5 }, /active: missing/],
      ['an absurd value', { queued: 5_000_000, active: 0 }, /over the ceiling TASK_COUNT_MAX=100000/],
      ['a fraction', { queued: 2.5, active: 0 }, /not a whole number/],
      ['not an object', 'Internal Server Error', /answer: /],
    ])('%s is rejected: TaskCountRejected, no decision, no spawn', async (_name, answer, reason) => {
      h = await harness(backend());
      h.source.answer = answer;
      const out = await h.cycle();
      expect(out.kind).toBe('rejected');
      const rejected = (await h.events('TaskCountRejected')).map((e) => e.data);
      expect(rejected).toHaveLength(1);
      expect(rejected[0].reason).toMatch(reason);
      expect(rejected[0].raw).toBe(typeof answer === 'string' ? answer : JSON.stringify(answer));
      expect(await h.events('ScalingDecided')).toEqual([]);
      expect(await h.events('WorkerSpawnRequested')).toEqual([]);
      expect(h.provider.created).toEqual([]);
      expect(h.stderr.text).toMatch(/TASK COUNT REJECTED cycle=1 .*no scaling decision, fleet held/);
      expect(h.stdout.text).toContain('❌ TASK COUNT REJECTED (Cycle #1)');
    });

    test('a failing, a hanging and a garbage-spewing source are rejected; the raw answer is cut short', async () => {
      h = await harness(backend(), { env: { TASK_SOURCE_TIMEOUT_SEC: '10' } });
      h.source.error = new Error('ECONNREFUSED');
      expect((await h.cycle()).kind).toBe('rejected');
      h.source.error = null;
      h.source.hang = true;
      expect((await h.cycle()).kind).toBe('rejected');
      h.source.hang = false;
      h.source.answer = { queued: 'x'.repeat(10_000), active: 0 };
      // the third in a row (SOURCE_FAILURE_CYCLES=3): rejected too, and the fallback holds the fleet
      expect(await h.cycle()).toMatchObject({
        kind: 'decided',
        decision: { decision: 'MAINTAIN', delta: 0, policy: { name: 'fallback' } },
      });
      const reasons = (await h.events('TaskCountRejected')).map((e) => e.data);
      expect(reasons[0].reason).toMatch(/task source scripted failed: ECONNREFUSED/);
      expect(reasons[1].reason).toMatch(/timed out after 10000 ms/);
      expect(reasons[2].raw?.length).toBeLessThan(600);
      expect(reasons[2].raw).toMatch(/… \(10\d\d\d chars\)$/);
      expect(h.provider.created).toEqual([]);
      // the fleet is held, and a good answer afterwards is acted on
      h.source.set(1);
      expect(await h.cycle()).toMatchObject({ kind: 'decided', decision: { decision: 'SCALE_UP', delta: 1 } });
    });

    test('a slow source raises an anomaly but its answer is used', async () => {
      h = await harness(backend());
      h.source.set(1);
      h.source.delayMs = 6000;
      const out = await h.cycle();
      expect(out).toMatchObject({ kind: 'decided', decision: { decision: 'SCALE_UP' } });
      if (out.kind === 'decided') expect(out.anomalies.map((a) => a.kind)).toEqual(['slow_task_source']);
      const observed = (await h.events('TaskCountObserved')).map((e) => e.data);
      expect(observed[0].responseMs).toBe(6000);
    });

    test('a worker stuck in spawning past SPAWNING_TIMEOUT_SEC is terminated and recorded as failed', async () => {
      h = await harness(backend(), {
        env: { SIM_STARTUP_MIN_SEC: '5000', SIM_STARTUP_MAX_SEC: '5000', SPAWNING_TIMEOUT_SEC: '600' },
      });
      h.source.set(1);
      await h.cycle();
      for (let i = 0; i < 21; i++) await h.cycle(); // more than 600 s pass
      const rows = await h.store.db.query<Any>(
        'select worker_id, status, termination_reason from workers order by requested_at',
      );
      expect(rows[0]).toMatchObject({ status: 'failed', termination_reason: 'spawning_timeout' });
      expect(rows[1]).toMatchObject({ status: 'spawning' }); // its replacement
      const decided = (await h.events('ScalingDecided')).map((e) => e.data);
      const timedOut = decided.find((d) => d.timedOut.length > 0);
      expect(timedOut?.timedOut[0].workerId).toBe(rows[0].worker_id);
      expect(timedOut?.decision).toBe('SCALE_UP');
      expect((await h.provider.list()).map((p) => p.workerId)).toEqual([rows[1].worker_id]);
      const terminated = (await h.events('WorkerTerminated')).map((e) => e.data);
      expect(terminated).toMatchObject([{ workerId: rows[0].worker_id, failed: true, reason: 'spawning_timeout' }]);
    });

    test('a worker whose pod crashed is recorded terminated (failed) with its exit code', async () => {
      h = await harness(backend());
      h.source.set(1);
      await h.cycle();
      h.clock.advance(15_000);
      await h.cycle();
      const [pod] = await h.provider.list();
      h.provider.crash(pod.podId, 137);
      h.source.set(0);
      await h.cycle();
      const [row] = await h.store.db.query<Any>('select status, termination_reason, termination_detail from workers');
      expect(row).toMatchObject({ status: 'failed', termination_reason: 'exited' });
      expect(row.termination_detail).toMatch(/exit code 137/);
    });
  },
);

forEachBackend(
  'the tasks table end to end',
  { pglite: pgliteBackend, postgres: () => postgresBackend(), hasServer: !!TEST_DATABASE_URL },
  (backend) => {
    test('20 queued tasks scale up within one cycle; when they are done the fleet scales down after the idle timeout', async () => {
      const h = await harness(backend(), { source: 'tasks-table', env: { SIM_TASK_SEC: '40' } });
      try {
        await h.store.db.query(`insert into tasks(status) select 'queued' from generate_series(1, 20)`);
        const up = await h.cycle();
        expect(up).toMatchObject({
          kind: 'decided',
          decision: { total: 20, decision: 'SCALE_UP', delta: 10, requested: 10 },
        });
        let lastDone = 0;
        let downAt: number | null = null;
        for (let i = 0; i < 40 && downAt === null; i++) {
          const [{ open }] = await h.store.db.query<{ open: number }>(
            `select count(*)::bigint as open from tasks where status <> 'done'`,
          );
          if (open > 0) lastDone = h.clock.now().getTime();
          const out = await h.cycle();
          if (out.kind === 'decided' && out.decision.decision === 'SCALE_DOWN') downAt = h.clock.now().getTime();
        }
        const [{ done }] = await h.store.db.query<{ done: number }>(
          `select count(*)::bigint as done from tasks where status = 'done' and worker_id is not null`,
        );
        expect(done).toBe(20);
        expect(downAt).not.toBeNull();
        // not before the idle timeout (300 s) after the last task finished
        expect((downAt as number) - lastDone).toBeGreaterThanOrEqual(300_000);
        await h.system.step();
        const live = await h.store.db.query(`select * from workers where status in ('spawning', 'active')`);
        expect(live).toEqual([]);
        const terminated = (await h.events('WorkerTerminated')).map((e) => e.data);
        expect(terminated).toHaveLength(10);
        expect(terminated.map((t: Any) => [t.reason, t.failed])).toEqual(terminated.map(() => ['idle', false]));
      } finally {
        await h.close();
      }
    });
  },
);
