import postgres from 'postgres';
import { openPostgresDb } from '../src/store/db-postgres';
import { storeOn } from '../src/store/index';
import { benchRegistry } from './bench-events';
import { collectGarbage, RssSampler, timeMs } from './measure';
import { openRaw } from './raw-client';
import { replayWorkload } from './replay-workload';
import { printResults, type SideResult, type WorkloadResult } from './report';
import { benchServer } from './server';
import { type Side, storeWorkloads, type Workload, WRITERS } from './store-workloads';

/**
 * `npm run bench`: the event store against raw SQL through porsager's `postgres` on the same
 * server, in the same run. Each workload warms up raw then ours, then runs raw, ours, raw, ours;
 * the table shows the best run of each side. Targets are reported, never enforced (exit 0).
 */
/** Measured rounds per side (BENCH_ROUNDS, 1 to 5; default 2). */
const ROUNDS = Math.min(5, Math.max(1, Number.parseInt(process.env.BENCH_ROUNDS ?? '2', 10) || 2));
const POOL = WRITERS + 2;

async function measure(w: Workload, side: Side, round: number, into: SideResult): Promise<void> {
  let events = 0;
  if (w.trackRss) {
    collectGarbage();
    into.startRss!.push(process.memoryUsage.rss());
    const rss = new RssSampler();
    into.ms.push(await timeMs(async () => (events = await side.run(round, () => rss.sample()))));
    into.peakRss!.push(rss.stop());
  } else {
    into.ms.push(await timeMs(async () => (events = await side.run(round))));
  }
  into.events = events;
}

async function runWorkload(w: Workload): Promise<WorkloadResult> {
  const fresh = (): SideResult =>
    w.trackRss ? { events: 0, ms: [], peakRss: [], startRss: [] } : { events: 0, ms: [] };
  const result: WorkloadResult = { name: w.name, target: w.target, raw: fresh(), ours: fresh() };
  process.stderr.write(`bench: ${w.name} ...`);
  const t0 = Date.now();
  await w.prepare?.();
  await w.raw.warm();
  await w.ours.warm();
  for (let round = 0; round < ROUNDS; round++) {
    await measure(w, w.raw, round, result.raw);
    await measure(w, w.ours, round, result.ours);
  }
  process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  result.problems = w.problems ?? [];
  return result;
}

async function main(): Promise<void> {
  const server = benchServer();
  const onSignal = (sig: NodeJS.Signals) => {
    server.stop();
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const schema = `bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    const db = await openPostgresDb({ url: server.url, schema, max: POOL, applicationName: 'gpu-scaler-bench' });
    const store = await storeOn(db, benchRegistry());
    const raw = openRaw(server.url, schema, POOL);
    try {
      await raw`create table raw_events (like events including all)`;
      const [{ version }] = await admin<{ version: string }[]>`select current_setting('server_version') as version`;
      const settings = await admin<{ name: string; setting: string }[]>`
        select name, setting from pg_settings where name in ('fsync', 'synchronous_commit', 'shared_buffers')`;
      console.log(`gpu-scaler event store benchmark: node ${process.version}, PostgreSQL ${version}`);
      console.log(`server: ${server.origin}; ${settings.map((s) => `${s.name}=${s.setting}`).join(', ')}`);
      console.log(
        `schema ${schema}, pool of ${POOL} connections per side; the store listens for NOTIFY like openStore`,
      );
      const order = Array.from({ length: ROUNDS }, () => 'raw, ours').join(', ');
      console.log(`order: per workload, warm-up raw then ours (~100 ops each), then ${order}; best run per side\n`);

      const results: WorkloadResult[] = [];
      for (const w of [...storeWorkloads(store, raw), replayWorkload(server.url, schema, ROUNDS)]) {
        results.push(await runWorkload(w));
      }
      console.log('');
      printResults(results);
    } finally {
      await raw.end({ timeout: 5 });
      await store.close();
    }
  } finally {
    try {
      await admin.unsafe(`drop schema if exists "${schema}" cascade`);
    } finally {
      await admin.end({ timeout: 5 });
      server.stop();
    }
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('bench failed:', err);
    process.exit(1);
  },
);
