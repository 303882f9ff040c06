import { type GlobalCheck, globalCostRoom, globalRefusal } from '../../src/pools/budget';
import type { PoolsPlan } from '../../src/pools/plan';

/** video (priority 10) and image (priority 0) under a global cost cap of 16 USD/h. */
const plan: PoolsPlan = {
  caps: { usdPerHour: 16 },
  pools: [
    { pool: 'video', priority: 10, floorWorkers: 0, gpusPerWorker: 1, usdPerWorker: null },
    { pool: 'image', priority: 0, floorWorkers: 0, gpusPerWorker: 1, usdPerWorker: null },
  ],
};
const worker = (pool: string, hourlyCostUsd: number | null) => ({ pool, gpus: 1, hourlyCostUsd });
const check = (over: Partial<GlobalCheck>): GlobalCheck => ({
  plan,
  pool: 'image',
  gpus: 1,
  quoteUsdPerHour: 2,
  fleet: [],
  allocation: null,
  ...over,
});

describe("the reactor's global cost check", () => {
  test('a live worker whose price is not known yet burns its own pool quote, not the spawning pool one', () => {
    const fleet = [worker('video', null), worker('video', null), worker('image', 2)];
    // video's 2 unpriced workers at its quote of 5: 10 + 2 = 12 burn; one more at 2 makes 14 <= 16
    expect(globalRefusal(check({ fleet, prices: new Map([['video', 5]]) }))).toBeNull();
    // at 6 each: 12 + 2 + 2 = 16 fits, at 7: 14 + 2 + 2 = 18 does not
    expect(globalRefusal(check({ fleet, prices: new Map([['video', 7]]) }))).toBe(
      "refused by the global cost budget: every pool's live fleet burns 16.00 USD/h, one more worker at 2.00 would make 18.00 > GLOBAL_MAX_HOURLY_COST_USD=16",
    );
  });

  test('what a higher priority is owed is kept for it at its price; an unknown price keeps nothing (and says nothing)', () => {
    const fleet = [worker('image', 2), worker('image', 2)];
    const owed = check({ fleet, higherWants: new Map([['video', 3]]), prices: new Map([['video', 3]]) });
    // 4 burn + 2 + 9 owed = 15 fits; one more image worker later (6 + 2 + 9 = 17) does not
    expect(globalRefusal(owed)).toBeNull();
    expect(globalRefusal({ ...owed, fleet: [...fleet, worker('image', 2)] })).toBe(
      'held back by the global cost budget: 9.00 of GLOBAL_MAX_HOURLY_COST_USD=16 USD/h are kept for higher priority (video: priority 10, wants 3 worker(s), holds 0); burn 6.00 + 2.00 + 9.00 > 16',
    );
    expect(globalRefusal({ ...owed, fleet: [...fleet, worker('image', 2)], prices: new Map() })).toBeNull();
    // the higher priority itself is held back for nobody
    expect(globalRefusal({ ...owed, pool: 'video', quoteUsdPerHour: 3 })).toBeNull();
  });

  test('the room a spawn is placed under: the cap less every pool burn and what the higher priorities are owed', () => {
    const fleet = [worker('image', 2), worker('video', 2.5)];
    expect(globalCostRoom(check({ fleet }))).toBe(11.5);
    expect(
      globalCostRoom(check({ fleet, higherWants: new Map([['video', 3]]), prices: new Map([['video', 2.5]]) })),
    ).toBe(6.5);
    // never below nothing, and none without a global cost cap
    expect(globalCostRoom(check({ fleet: Array.from({ length: 9 }, () => worker('image', 2)) }))).toBe(0);
    expect(globalCostRoom(check({ plan: { ...plan, caps: { gpus: 8 } } }))).toBeUndefined();
  });
});
