import { ALL_PROJECTIONS, foldAll } from '../../projections/index';
import { SimulatedProvider } from '../../src/providers/simulated';
import { pgliteBackend, postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { forEachBackend, type Harness, harness } from '../helpers/harness';

// biome-ignore lint/suspicious/noExplicitAny: rows in assertions
type Any = any;

const ENV = { GPU_IDLE_TIMEOUT_SEC: '60', PARKED_MAX: '2', MAX_WORKERS: '10', MAX_ACTIVE_GPUS: '10' };

function simProvider(h: Pick<Harness, 'clock'>, unparkSuccess = 1) {
  return new SimulatedProvider({
    clock: h.clock,
    startupMinSec: 5,
    startupMaxSec: 10,
    failureRate: 0,
    seed: 7,
    unparkSuccess,
    unparkMinSec: 2,
    unparkMaxSec: 4,
  });
}

async function workers(h: Harness): Promise<Any[]> {
  return h.store.db.query('select worker_id, pod_id, status, unparks from workers order by worker_id');
}

/** Cycles until no worker is active or spawning (the burst's workers went idle and were removed). */
async function quiet(h: Awaited<ReturnType<typeof harness>>, maxCycles = 12): Promise<void> {
  h.source.set(0);
  for (let i = 0; i < maxCycles; i++) {
    await h.cycle();
    const live = (await workers(h)).filter((w) => ['active', 'spawning', 'terminating'].includes(w.status));
    if (live.length === 0) return;
  }
  throw new Error('the fleet never went quiet');
}

forEachBackend(
  'parked pods in the reactor',
  { pglite: pgliteBackend, postgres: () => postgresBackend(), hasServer: !!TEST_DATABASE_URL },
  (backend) => {
    let h: Awaited<ReturnType<typeof harness>>;
    afterEach(async () => {
      await h?.close();
    });

    test('PARKED_MAX=0 (the default) terminates idle workers as before: nothing parked, no stop call', async () => {
      h = await harness(backend(), { env: { GPU_IDLE_TIMEOUT_SEC: '60' } });
      h.source.set(3);
      await h.cycle();
      h.clock.advance(15_000);
      await h.cycle();
      await quiet(h);
      expect((await workers(h)).map((w) => w.status)).toEqual(['terminated', 'terminated', 'terminated']);
      expect(await h.events('WorkerParked')).toEqual([]);
      expect((await h.provider.list()).length).toBe(0);
    });

    test('a burst then quiet parks up to PARKED_MAX; the next burst starts them (most recently parked first) and cold-creates the rest', async () => {
      h = await harness(backend(), { env: ENV });
      const sim = simProvider(h);
      const sys = await h.restart({ provider: sim, env: ENV });
      const cycle = async () => {
        await sys.step();
        h.clock.advance(30_000);
      };
      h.source.set(3);
      await cycle();
      h.clock.advance(15_000);
      await cycle();
      h.source.set(0);
      for (let i = 0; i < 8; i++) await cycle();
      const parked = await h.events('WorkerParked');
      expect(parked.map((e) => e.data.parked)).toEqual([1, 2]);
      expect(parked.every((e) => e.data.pool === 'default' && e.data.parkedMax === 2)).toBe(true);
      let rows = await workers(h);
      expect(rows.map((w) => w.status).sort()).toEqual(['parked', 'parked', 'terminated']);
      // parked pods are stopped, not gone, and hold no GPU
      const pods = await sim.list();
      expect(pods.map((p) => p.status)).toEqual(['exited', 'exited']);
      // nothing counts them: the fleet is empty
      const createdBefore = sim.created.length;

      h.source.set(3);
      await cycle();
      const unparked = await h.events('WorkerUnparked');
      expect(unparked.map((e) => [e.data.workerId, e.data.ordinal])).toEqual([
        [parked[1].data.workerId, 1],
        [parked[0].data.workerId, 2],
      ]);
      expect(sim.created.length).toBe(createdBefore + 1); // one cold create for the third
      h.clock.advance(15_000);
      await cycle();
      rows = await workers(h);
      expect(rows.filter((w) => w.status === 'active').length).toBe(3);
      expect(
        rows
          .filter((w) => w.unparks === 1)
          .map((w) => w.worker_id)
          .sort(),
      ).toEqual([parked[0].data.workerId, parked[1].data.workerId].sort());
      // each worker kept its one pod
      const live = await sim.list();
      expect(new Set(live.map((p) => p.idempotencyKey)).size).toBe(live.length);
      // the table is the pure fold of the events
      const events = await h.events();
      const p = ALL_PROJECTIONS.find((x) => x.table === 'workers');
      const folded = [...foldAll(p as Any, events).values()].map((r: Any) => [r.worker_id, r.status]);
      expect(folded.sort()).toEqual(rows.map((w) => [w.worker_id, w.status]).sort());
    });

    test('a refused start terminates that pod and cold-creates for the slot in the same cycle', async () => {
      h = await harness(backend(), { env: ENV });
      const sim = simProvider(h, 0); // every start refused
      const sys = await h.restart({ provider: sim, env: ENV });
      const cycle = async () => {
        await sys.step();
        h.clock.advance(30_000);
      };
      h.source.set(2);
      await cycle();
      h.clock.advance(15_000);
      await cycle();
      h.source.set(0);
      for (let i = 0; i < 8; i++) await cycle();
      expect((await h.events('WorkerParked')).length).toBe(2);
      const created = sim.created.length;
      h.source.set(1);
      await cycle();
      const refused = await h.events('WorkerUnparkRefused');
      expect(refused.length).toBe(1);
      expect(refused[0].data.kind).toBe('capacity');
      expect(sim.created.length).toBe(created + 1);
      const rows = await workers(h);
      expect(rows.find((w) => w.worker_id === refused[0].data.workerId)?.status).toBe('terminated');
      expect(rows.filter((w) => w.status === 'spawning').length).toBe(1);
      // the refused pod is gone, the other parked one kept
      expect((await sim.list()).filter((x) => x.status === 'exited').length).toBe(1);
    });

    test('unparking is a spawn for MAX_ACTIVE_GPUS: never over the cap; parked pods count toward no cap', async () => {
      const env = { ...ENV, MAX_ACTIVE_GPUS: '2', PARKED_MAX: '5' };
      h = await harness(backend(), { env });
      const sim = simProvider(h);
      const sys = await h.restart({ provider: sim, env });
      const cycle = async () => {
        await sys.step();
        h.clock.advance(30_000);
      };
      h.source.set(2);
      await cycle();
      h.clock.advance(15_000);
      await cycle();
      h.source.set(0);
      for (let i = 0; i < 8; i++) await cycle();
      expect((await workers(h)).map((w) => w.status)).toEqual(['parked', 'parked']);
      // 2 parked do not stop 2 new ones... and the new ones are the parked ones
      h.source.set(5);
      for (let i = 0; i < 4; i++) {
        await cycle();
        const running = (await sim.list()).filter((p) => p.status === 'running' || p.status === 'starting');
        expect(running.length).toBeLessThanOrEqual(2);
      }
      expect((await h.events('WorkerUnparked')).length).toBe(2);
      expect((await h.events('WorkerSpawned')).length).toBe(2); // only the first burst's
    });

    test('a stop that fails terminates the worker instead (its request recorded once), as before parking', async () => {
      h = await harness(backend(), { env: ENV });
      const sim = simProvider(h);
      sim.park = async () => {
        throw new Error('stop refused');
      };
      const sys = await h.restart({ provider: sim, env: ENV });
      h.source.set(1);
      await sys.step();
      h.clock.advance(45_000);
      await sys.step();
      h.source.set(0);
      for (let i = 0; i < 6; i++) {
        h.clock.advance(30_000);
        await sys.step();
      }
      const [row] = await h.store.db.query<Any>('select status, termination_reason from workers');
      expect(row).toEqual({ status: 'terminated', termination_reason: 'idle' });
      expect((await h.events('WorkerTerminationRequested')).length).toBe(1);
      expect(await h.events('WorkerParked')).toEqual([]);
      expect(await sim.list()).toEqual([]);
    });

    test('PARKED_MAX lowered after a restart: the oldest parked pods beyond it are terminated', async () => {
      h = await harness(backend(), { env: { ...ENV, PARKED_MAX: '3' } });
      const sim = simProvider(h);
      const sys = await h.restart({ provider: sim, env: { ...ENV, PARKED_MAX: '3' } });
      h.source.set(3);
      await sys.step();
      h.clock.advance(45_000);
      await sys.step();
      h.source.set(0);
      for (let i = 0; i < 6; i++) {
        h.clock.advance(30_000);
        await sys.step();
      }
      expect((await workers(h)).filter((w) => w.status === 'parked').length).toBe(3);
      const lowered = await h.restart({ provider: sim, env: { ...ENV, PARKED_MAX: '1' } });
      h.clock.advance(30_000);
      await lowered.step();
      expect((await workers(h)).map((w) => w.status).sort()).toEqual(['parked', 'terminated', 'terminated']);
      expect((await sim.list()).length).toBe(1);
      const off = await h.restart({ provider: sim, env: { ...ENV, PARKED_MAX: '0' } });
      h.clock.advance(30_000);
      await off.step();
      expect(await sim.list()).toEqual([]);
    });

    test('parked pods older than PARKED_MAX_AGE_SEC are terminated', async () => {
      const env = { ...ENV, PARKED_MAX_AGE_SEC: '600' };
      h = await harness(backend(), { env });
      const sim = simProvider(h);
      const sys = await h.restart({ provider: sim, env });
      const cycle = async () => {
        await sys.step();
        h.clock.advance(30_000);
      };
      h.source.set(1);
      await cycle();
      h.clock.advance(15_000);
      await cycle();
      h.source.set(0);
      for (let i = 0; i < 6; i++) await cycle();
      expect((await workers(h)).map((w) => w.status)).toEqual(['parked']);
      h.clock.advance(601_000);
      await cycle();
      const [row] = await h.store.db.query<Any>('select status, termination_reason, termination_detail from workers');
      expect(row).toMatchObject({ status: 'terminated', termination_reason: 'lifetime' });
      expect(row.termination_detail).toMatch(/over PARKED_MAX_AGE_SEC=600/);
      expect(await sim.list()).toEqual([]);
    });
  },
);
