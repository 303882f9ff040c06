import { HttpEndpoint } from '../../src/observe/http';
import type { Db } from '../../src/store/db';
import type { EventStore } from '../../src/store/event-store';
import { BACKENDS, forEachBackend, harness } from '../helpers/harness';
import { waitFor } from '../helpers/wait';

/** The store as the endpoint reads it, whose queries wait from `hold()` to `open()` (slow requests, without timing). */
function gatedStore(store: EventStore): { store: EventStore; hold(): void; open(): void; queries(): number } {
  let release: () => void = () => {};
  let gate = Promise.resolve();
  let n = 0;
  const wrap = (db: Db): Db =>
    new Proxy(db, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop !== 'query' || typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          n += 1;
          await gate;
          return value.apply(target, args);
        };
      },
    });
  const gated = Object.create(store) as EventStore;
  Object.defineProperty(gated, 'db', { value: wrap(store.db) });
  Object.defineProperty(gated, 'sql', { value: wrap(store.sql as Db) });
  return {
    store: gated,
    hold: () => {
      gate = new Promise<void>((resolve) => (release = resolve));
    },
    open: () => release(),
    queries: () => n,
  };
}

forEachBackend('the HTTP endpoint under many readers', BACKENDS, (backend) => {
  test('bad parameters are a 400 naming the allowed form, never a 500 with the database text', async () => {
    const h = await harness(backend());
    const endpoint = new HttpEndpoint({
      store: h.store,
      host: '127.0.0.1',
      port: 0,
      now: () => h.clock.now(),
      refreshSec: 30,
    });
    try {
      await h.cycle();
      const { port } = await endpoint.start();
      const base = `http://127.0.0.1:${port}`;
      for (const [path, allowed] of [
        ['/api/state?window=../../etc', 'use one of 1h, 6h, 24h, 7d'],
        ['/api/state?window=toString', 'use one of 1h, 6h, 24h, 7d'],
        ['/api/explain?cycle=99999999999999999999', 'use a whole number from 1 to 2147483647'],
        ['/api/explain?cycle=1e3', 'use a whole number from 1 to 2147483647'],
        ['/api/explain?cycle=0x10', 'use a whole number from 1 to 2147483647'],
        ['/api/explain?cycle=0', 'use a whole number from 1 to 2147483647'],
      ]) {
        const r = await fetch(`${base}${path}`);
        const body = (await r.json()) as { error: string };
        expect([path, r.status]).toEqual([path, 400]);
        expect(body.error).toContain(allowed);
      }
      expect((await fetch(`${base}/api/explain?cycle=2147483647`)).status).toBe(404);
      expect((await fetch(`${base}/api/explain?cycle=1`)).status).toBe(200);
      expect((await fetch(`${base}/api/state?window=7d`)).status).toBe(200);
    } finally {
      await endpoint.stop();
      await h.close();
    }
  }, 120_000);

  test('reads come from their own store; one more expensive read than the bound gets 429 with Retry-After', async () => {
    const h = await harness(backend());
    const gated = gatedStore(h.store);
    const endpoint = new HttpEndpoint({
      store: h.store,
      readStore: gated.store,
      maxConcurrent: 2,
      host: '127.0.0.1',
      port: 0,
      now: () => h.clock.now(),
      refreshSec: 30,
    });
    try {
      await h.cycle();
      await h.cycle();
      const { port } = await endpoint.start();
      const base = `http://127.0.0.1:${port}`;
      const before = gated.queries();
      gated.hold();
      // two slow reads (distinct: nothing to share) hold the bound
      const slow = [fetch(`${base}/api/explain?cycle=1`), fetch(`${base}/api/state?window=7d`)];
      await waitFor(() => endpoint.inFlight === 2 || null, 'two reads in flight', 60_000);
      expect(gated.queries()).toBeGreaterThan(before); // they read through the endpoint's own store
      // the same request as one in flight shares it (no 429); a third distinct one is refused
      const shared = fetch(`${base}/api/explain?cycle=1`);
      const refused = await fetch(`${base}/api/explain?cycle=2`);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { error: string }).error).toContain('at most 2 at once');
      // the static page does not count
      expect((await fetch(`${base}/`)).status).toBe(200);
      gated.open();
      const answers = await Promise.all([...slow, shared]);
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
      // answered from the cache until the store changes: no new query
      const cachedFrom = gated.queries();
      expect((await fetch(`${base}/api/state?window=7d`)).status).toBe(200);
      expect(gated.queries()).toBe(cachedFrom);
      await h.cycle(); // appends: the next read is fresh
      expect((await fetch(`${base}/api/state?window=7d`)).status).toBe(200);
      expect(gated.queries()).toBeGreaterThan(cachedFrom);
      expect((await fetch(`${base}/api/explain?cycle=2`)).status).toBe(200);
    } finally {
      gated.open();
      await endpoint.stop();
      await h.close();
    }
  }, 120_000);
});
