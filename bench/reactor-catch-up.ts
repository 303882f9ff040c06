/**
 * How long a reactor without a checkpoint (the state a pg_dump restore leaves) takes to read past
 * N events, with the old subscription options (every event, 50 at a time) and the current ones
 * (only ScalingDecided, 1000 at a time). Reading only: the handler does nothing, the same for both.
 * A one-off measurement: `npm run build && node dist/bench/reactor-catch-up.js` with
 * BENCH_DATABASE_URL and BENCH_REACTOR_EVENTS (default 1,000,000).
 */
import postgres from 'postgres';
import { appRegistry } from '../events/index';
import { REACTOR_EVENT_TYPES } from '../src/reactor/reactor';
import { openPostgresDb } from '../src/store/db-postgres';
import { storeOn } from '../src/store/index';
import { Subscription } from '../src/store/subscription';
import type { RawSql } from './raw-client';
import { fillReplayEvents } from './replay-workload';

async function main(): Promise<void> {
  const url = process.env.BENCH_DATABASE_URL;
  if (!url) throw new Error('BENCH_DATABASE_URL is required');
  const total = Number(process.env.BENCH_REACTOR_EVENTS ?? 1_000_000);
  const store = await storeOn(await openPostgresDb({ url }), appRegistry, false);
  const raw = postgres(url, { max: 1, onnotice: () => {} }) as unknown as RawSql;
  try {
    await fillReplayEvents(raw, total);
    await store.db.exec('vacuum analyze events');
    const sides = [
      { name: 'before (all types, batch 50)', opts: { batchSize: 50 } },
      { name: 'after (ScalingDecided, batch 1000)', opts: { batchSize: 1000, eventTypes: REACTOR_EVENT_TYPES } },
    ];
    for (const round of [1, 2]) {
      for (const side of round === 1 ? sides : [...sides].reverse()) {
        const name = `reactor-measure-${Date.now()}`;
        let decisions = 0;
        const sub = new Subscription(store, {
          name,
          transactional: false,
          ...side.opts,
          handle: async (events) => {
            for (const e of events) if (e.type === 'ScalingDecided') decisions += 1;
          },
        });
        const t0 = performance.now();
        const read = await sub.catchUp();
        const ms = performance.now() - t0;
        await store.db.query('delete from projection_checkpoints where name = $1', [name]);
        process.stdout.write(
          `${side.name}: ${(ms / 1000).toFixed(2)} s for ${total} events (${read} handed over, ${decisions} decisions)\n`,
        );
      }
    }
  } finally {
    await raw.end();
    await store.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exitCode = 1;
});
