import { describeOnStores, type RecordedEvent, useTimelineStore, visibleToReaders } from './run-cli';

/** The fields these assertions read of any event (a widening of its typed data, not a cast). */
type Data = { readonly [k: string]: unknown; cycle?: number | null; at?: string };
const data = (e: RecordedEvent): Data => e.data;

let dir: string;
let recorded: RecordedEvent[];
useTimelineStore((d, r) => {
  dir = d;
  recorded = r;
});

/** The event in pool video (its data's pool: nothing else changes). */
const inVideo = <E extends { type: string; data: object }>(e: E): E => ({ ...e, data: { ...e.data, pool: 'video' } });

describeOnStores(
  'replay --pool',
  () => dir,
  (ctx) => {
    let last: number;
    beforeAll(async () => {
      // pool video repeats the timeline's first scale-up cycle on its own streams and asks for a worker
      const up = recorded.find((e) => e.type === 'ScalingDecided' && e.data.decision === 'SCALE_UP');
      if (!up) throw new Error('the timeline has no scale-up');
      const cycle = Number(data(up).cycle);
      const own = recorded
        .filter((e) => e.streamId === 'controller' && data(e).cycle === cycle)
        .map((e) => ({ ...inVideo(e), eventId: undefined, metadata: { cycle } }));
      const res = await ctx().writer.append('controller@video', own);
      const spawn = await ctx().writer.append('worker-video-w1', [
        {
          type: 'WorkerSpawnRequested',
          data: {
            workerId: 'video-w1',
            pool: 'video',
            at: String(data(up).at),
            cycle,
            decisionEventId: 'd-video',
            ordinal: 1,
            of: 1,
            idempotencyKey: 'video-w1',
            provider: 'simulated',
          },
          metadata: { cycle },
        },
      ]);
      last = Math.max(...res.globalPositions, ...spawn.globalPositions);
      await visibleToReaders(ctx().store, last);
    });

    test("--pool video --until N: the as-of tables hold pool video's rows only, in a schema of their own", async () => {
      const r = await ctx().run(['replay', '--pool', 'video', '--until', String(last), '--json']);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout) as { schema: string; pool: string; tables: { table: string; rows: number }[] };
      expect(j.schema).toBe(`asof_pos_${last}_video`);
      expect(j.pool).toBe('video');
      const workers = j.tables.find((t) => t.table.endsWith('.workers'));
      expect(workers?.rows).toBe(1);
      for (const t of j.tables) {
        const rows = await ctx().store.db.query<{ pool: string }>(`select distinct pool from ${t.table}`);
        expect({ table: t.table, pools: rows.map((x) => x.pool) }).toEqual({
          table: t.table,
          pools: t.rows ? ['video'] : [],
        });
      }
      const ids = await ctx().store.db.query<{ worker_id: string }>(`select worker_id from ${j.schema}.workers`);
      expect(ids.map((x) => x.worker_id)).toEqual(['video-w1']);
      // every pool's, as before pools, without --pool
      const all = JSON.parse((await ctx().run(['replay', '--until', String(last), '--json'])).stdout) as {
        schema: string;
      };
      const pools = await ctx().store.db.query<{ pool: string }>(
        `select distinct pool from ${all.schema}.workers order by pool`,
      );
      expect(pools.map((x) => x.pool)).toEqual(['default', 'video']);
    });

    test('--pool without --until is bad usage saying why; two pools too', async () => {
      const r = await ctx().run(['replay', '--pool', 'video']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--pool video needs --until: a full rebuild swaps in every pool');
      const two = await ctx().run(['replay', '--pool', 'video', '--pool', 'default', '--until', '5']);
      expect(two.code).toBe(2);
      expect(two.stderr).toContain("--pool is given 2 times: replay builds one pool's tables, name one");
    });
  },
);
