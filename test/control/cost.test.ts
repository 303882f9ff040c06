import { SimulatedProvider } from '../../src/providers/simulated';
import { pgliteBackend, postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { decided, forEachBackend, harness } from '../helpers/harness';

// biome-ignore lint/suspicious/noExplicitAny: event data in assertions
type Any = any;

forEachBackend(
  'the cost cap',
  { pglite: pgliteBackend, postgres: () => postgresBackend(), hasServer: !!TEST_DATABASE_URL },
  (backend) => {
    let h: Awaited<ReturnType<typeof harness>>;
    afterEach(async () => {
      await h?.close();
    });

    test('MAX_HOURLY_COST_USD caps a scale-up at the quoted price; workers record their price', async () => {
      h = await harness(backend(), { env: { SIM_GPU_HOURLY_USD: '0.69', MAX_HOURLY_COST_USD: '2.50' } });
      // the harness's simulated provider is built without a price: give the system one that has it
      const provider = new SimulatedProvider({
        clock: h.clock,
        startupMinSec: 5,
        startupMaxSec: 10,
        failureRate: 0,
        seed: 1,
        gpuHourlyUsd: 0.69,
      });
      const system = await h.restart({ provider });
      h.source.set(10);
      const out = decided(await system.step());
      expect(out.decision).toMatchObject({ decision: 'SCALE_UP', delta: 3, quoteUsdPerHour: 0.69 });
      expect(out.decision.reasons).toContain('capped to 3 workers by MAX_HOURLY_COST_USD=2.50: 3 x 0.69 = 2.07 USD/h');
      const rows = await h.store.db.query<Any>('select gpu_count, hourly_cost_usd from workers order by worker_id');
      expect(rows.map((r) => [Number(r.gpu_count), Number(r.hourly_cost_usd)])).toEqual([
        [1, 0.69],
        [1, 0.69],
        [1, 0.69],
      ]);
      // the fleet at its recorded prices: 2.07 USD/h leaves no room for a fourth at 0.69
      h.clock.advance(30_000);
      const next = decided(await system.step());
      expect(next.decision).toMatchObject({ decision: 'MAINTAIN', desired: 3 });
      expect(next.decision.burnUsdPerHour).toBeCloseTo(2.07, 6);
    });

    test('with the cap set and no price, nothing is spawned beyond the fleet, and the decision says so', async () => {
      h = await harness(backend(), { env: { MAX_HOURLY_COST_USD: '2.50' } });
      h.source.set(5);
      const out = decided(await h.cycle());
      expect(out.decision).toMatchObject({ decision: 'MAINTAIN', desired: 0, delta: 0 });
      expect(out.decision.reasons.join('\n')).toMatch(/MAX_HOURLY_COST_USD=2.50: the price of a new worker is unknown/);
      expect(await h.events('WorkerSpawnRequested')).toHaveLength(0);
    });
  },
);
