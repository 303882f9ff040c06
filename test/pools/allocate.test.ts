import { allocate, floorProblems, type PoolClaim, shareText } from '../../src/pools/allocate';

const claim = (pool: string, over: Partial<PoolClaim> = {}): PoolClaim => ({
  pool,
  priority: 0,
  wantWorkers: 0,
  floorWorkers: 0,
  gpusPerWorker: 1,
  usdPerWorker: null,
  ...over,
});

const got = (a: ReturnType<typeof allocate>) => Object.fromEntries(a.shares.map((s) => [s.pool, s.gotWorkers]));

describe('allocate: one budget across pools', () => {
  test('within the caps every pool gets what it wants', () => {
    const a = allocate([claim('video', { wantWorkers: 3 }), claim('image', { wantWorkers: 4 })], { gpus: 8 });
    expect(got(a)).toEqual({ video: 3, image: 4 });
    expect(a.shares.every((s) => s.limitedBy === null)).toBe(true);
  });

  test('the higher priority is served first; the lower gets the rest', () => {
    const a = allocate([claim('image', { wantWorkers: 6 }), claim('video', { priority: 10, wantWorkers: 6 })], {
      gpus: 8,
    });
    expect(got(a)).toEqual({ image: 2, video: 6 });
    expect(shareText(a, 'image')).toBe(
      'wanted 6 GPUs, got 2: GLOBAL_MAX_ACTIVE_GPUS=8 went first to video (priority 10, wanted 6)',
    );
    expect(shareText(a, 'video')).toBe('wanted 6 GPUs, got 6: within the global caps');
  });

  test('equal priorities share in proportion to what they want, by largest remainder', () => {
    // quotas 10 * 5/9 = 5.56 and 10 * 4/9 = 4.44: 5 and 4, the one left goes to the larger remainder (a)
    const a = allocate(
      [claim('b', { wantWorkers: 4 }), claim('a', { wantWorkers: 5 }), claim('c', { wantWorkers: 0 })],
      {
        gpus: 7,
      },
    );
    // quotas 7*5/9 = 3.89 and 7*4/9 = 3.11: 3 + 3, the seventh to a (remainder .89 > .11)
    expect(got(a)).toEqual({ a: 4, b: 3, c: 0 });
    expect(shareText(a, 'b')).toBe(
      'wanted 4 GPUs, got 3: GLOBAL_MAX_ACTIVE_GPUS=7 shared in proportion to what each wanted with a (priority 0, wanted 5, got 4)',
    );
  });

  test('equal remainders go by pool name, whatever order the claims come in', () => {
    const claims = [claim('y', { wantWorkers: 3 }), claim('x', { wantWorkers: 3 })];
    expect(got(allocate(claims, { gpus: 3 }))).toEqual({ x: 2, y: 1 });
    expect(got(allocate([...claims].reverse(), { gpus: 3 }))).toEqual({ x: 2, y: 1 });
  });

  test('floors hold whatever the priority', () => {
    const a = allocate(
      [claim('video', { priority: 10, wantWorkers: 8 }), claim('upscale', { wantWorkers: 3, floorWorkers: 2 })],
      { gpus: 8 },
    );
    expect(got(a)).toEqual({ video: 6, upscale: 2 });
    expect(shareText(a, 'upscale')).toContain('its floor MIN_ACTIVE_GPUS=2 held');
  });

  test('floors that alone pass a cap are a configuration error naming the cap and the floors', () => {
    const claims = [claim('a', { floorWorkers: 3 }), claim('b', { floorWorkers: 2, gpusPerWorker: 2 })];
    expect(floorProblems(claims, { gpus: 6 })).toEqual([
      "GLOBAL_MAX_ACTIVE_GPUS=6 is not allowed: the pools' floors (MIN_ACTIVE_GPUS) alone take 7 GPUs (a 3, b 4); raise the cap or lower the floors",
    ]);
    expect(floorProblems(claims, { gpus: 7 })).toEqual([]);
  });

  test('workers of several GPUs are given whole; what a larger worker cannot use goes on', () => {
    // video (2 GPUs a worker) wants 4 workers = 8 GPUs; cap 7: 3 workers (6 GPUs), 1 GPU left for image
    const a = allocate(
      [claim('video', { priority: 10, wantWorkers: 4, gpusPerWorker: 2 }), claim('image', { wantWorkers: 2 })],
      { gpus: 7 },
    );
    expect(got(a)).toEqual({ video: 3, image: 1 });
    expect(a.shares.find((s) => s.pool === 'video')?.limitedBy).toBe('GLOBAL_MAX_ACTIVE_GPUS');
  });

  test('the cost cap binds by USD per hour, and both caps hold at once', () => {
    const claims = [
      claim('h100', { wantWorkers: 4, usdPerWorker: 3 }),
      claim('l4', { wantWorkers: 4, usdPerWorker: 0.5 }),
    ];
    const a = allocate(claims, { gpus: 8, usdPerHour: 7 });
    const spent = a.shares.reduce(
      (s, x) => s + x.gotWorkers * (claims.find((c) => c.pool === x.pool)?.usdPerWorker ?? 0),
      0,
    );
    const gpus = a.shares.reduce((s, x) => s + x.gotWorkers, 0);
    expect(spent).toBeLessThanOrEqual(7);
    expect(gpus).toBeLessThanOrEqual(8);
    expect(a.shares.find((s) => s.pool === 'h100')?.limitedBy).toBe('GLOBAL_MAX_HOURLY_COST_USD');
    // both wanted 4 workers (14 USD/h together); the fraction that fits 7 USD/h is 0.5: 2 each (6 + 1 USD/h)
    expect(got(a)).toEqual({ h100: 2, l4: 2 });
    expect(allocate(claims, { gpus: 8, usdPerHour: 8 }).shares.map((s) => s.gotWorkers)).toEqual([2, 4]);
  });

  test('never more than a cap, never less than a floor, deterministic: random claims', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let run = 0; run < 500; run++) {
      const claims = Array.from({ length: 1 + rnd(6) }, (_, i) => {
        const want = rnd(10);
        return claim(`p${i}`, {
          priority: rnd(3),
          wantWorkers: want,
          floorWorkers: rnd(2) ? Math.min(want, rnd(3)) : 0,
          gpusPerWorker: 1 + rnd(3),
          usdPerWorker: rnd(2) ? 0.5 + rnd(4) : null,
        });
      });
      const caps = { gpus: 10 + rnd(20), usdPerHour: rnd(2) ? 5 + rnd(30) : undefined };
      if (floorProblems(claims, caps).length) continue;
      const a = allocate(claims, caps);
      const gpus = a.shares.reduce((s, x) => s + x.gotWorkers * x.gpusPerWorker, 0);
      expect(gpus).toBeLessThanOrEqual(caps.gpus);
      if (caps.usdPerHour !== undefined) {
        const usd = claims.reduce((s, c, i) => s + (c.usdPerWorker ?? 0) * a.shares[i].gotWorkers, 0);
        expect(usd).toBeLessThanOrEqual(caps.usdPerHour + 1e-9);
      }
      for (const [i, s] of a.shares.entries()) {
        expect(s.gotWorkers).toBeGreaterThanOrEqual(Math.min(claims[i].floorWorkers, claims[i].wantWorkers));
        expect(s.gotWorkers).toBeLessThanOrEqual(claims[i].wantWorkers);
        expect(s.limitedBy === null).toBe(s.gotWorkers === s.wantWorkers);
        expect(shareText(a, s.pool)).not.toMatch(/undefined|NaN|\[object/);
      }
      expect(allocate(claims, caps)).toEqual(a);
    }
  });

  test('a claim that is not a whole number of workers is refused', () => {
    expect(() => allocate([claim('a', { wantWorkers: 1.5 })], {})).toThrow(/pool a: wanted and floor workers/);
  });
});
