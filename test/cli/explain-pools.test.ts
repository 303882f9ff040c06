import type { AllocationRecord } from '../../events/scaling';
import type { NewEvent } from '../../src/store/event-store';
import { describeOnStores, type RecordedEvent, useTimelineStore, visibleToReaders } from './run-cli';

/** The fields these assertions read of any event (a widening of its typed data, not a cast). */
type Data = { readonly [k: string]: unknown; cycle?: number | null; decision?: unknown };
const data = (e: RecordedEvent): Data => e.data;

let dir: string;
let recorded: RecordedEvent[];
useTimelineStore((d, r) => {
  dir = d;
  recorded = r;
});

/** GLOBAL_MAX_ACTIVE_GPUS=8 shared by video (priority 10, wanted 6) and image (priority 0, wanted 6). */
const ALLOCATION: AllocationRecord = {
  caps: { gpus: 8 },
  shares: [
    {
      pool: 'image',
      priority: 0,
      wantWorkers: 6,
      floorWorkers: 0,
      gotWorkers: 2,
      gpusPerWorker: 1,
      limitedBy: 'GLOBAL_MAX_ACTIVE_GPUS',
    },
    {
      pool: 'video',
      priority: 10,
      wantWorkers: 6,
      floorWorkers: 0,
      gotWorkers: 6,
      gpusPerWorker: 1,
      limitedBy: null,
    },
  ],
};
const WHY_IMAGE = 'wanted 6 GPUs, got 2: GLOBAL_MAX_ACTIVE_GPUS=8 went first to video (priority 10, wanted 6)';

/** The event in `pool` (its data's pool), a decision with the allocation: nothing else changes. */
const inPool = <E extends { type: string; data: object }>(e: E, pool: string): E => ({
  ...e,
  data: { ...e.data, pool, ...(e.type === 'ScalingDecided' ? { allocation: ALLOCATION } : {}) },
});

/** The timeline's first scale-up cycle (pool default), repeated by `pool` on its own streams with the allocation. */
function poolCycle(pool: string): { cycle: number; events: NewEvent[] } {
  const up = recorded.find((e) => e.type === 'ScalingDecided' && data(e).decision === 'SCALE_UP');
  if (!up) throw new Error('the timeline has no scale-up');
  const cycle = Number(data(up).cycle);
  const events = recorded
    .filter((e) => e.streamId === 'controller' && data(e).cycle === cycle)
    .map((e) => ({ ...inPool(e, pool), eventId: undefined, metadata: { cycle } }));
  return { cycle, events };
}

describeOnStores(
  'explain with pools',
  () => dir,
  (ctx) => {
    let cycle: number;
    let onlyDefault: number;
    beforeAll(async () => {
      let last = 0;
      for (const pool of ['video', 'image']) {
        const c = poolCycle(pool);
        cycle = c.cycle;
        const res = await ctx().writer.append(`controller@${pool}`, c.events);
        last = Math.max(last, ...res.globalPositions);
      }
      await visibleToReaders(ctx().store, last);
      const other = recorded.find(
        (e) => e.type === 'ScalingDecided' && data(e).cycle !== cycle && e.streamId === 'controller',
      );
      onlyDefault = Number(other ? data(other).cycle : 1);
    });

    test("--pool image --cycle N says why the pool got less than it wanted, in shareText's words", async () => {
      const r = await ctx().run(['explain', '--pool', 'image', '--cycle', String(cycle)]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`The global budget (pool image): ${WHY_IMAGE}.`);
      // the timeline's decision line says it too
      expect(r.stdout).toContain(`(global budget: ${WHY_IMAGE})`);
      expect(r.stdout).not.toContain('== pool');
      // video got all it wanted: its conclusion says so, its one-liner adds nothing
      const video = await ctx().run(['explain', '--pool', 'video', '--cycle', String(cycle)]);
      expect(video.stdout).toContain('The global budget (pool video): wanted 6 GPUs, got 6: within the global caps.');
      expect(video.stdout).not.toContain('(global budget:');
    });

    test('--cycle N without --pool: each pool that has the cycle under its heading; one pool: as before', async () => {
      const r = await ctx().run(['explain', '--cycle', String(cycle)]);
      expect(r.code).toBe(0);
      const headings = r.stdout.split('\n').filter((l) => l.startsWith('== pool '));
      expect(headings).toEqual(['== pool default ==', '== pool image ==', '== pool video ==']);
      const imagePart = r.stdout.slice(r.stdout.indexOf('== pool image =='), r.stdout.indexOf('== pool video =='));
      expect(imagePart).toContain(WHY_IMAGE);
      const defaultPart = r.stdout.slice(0, r.stdout.indexOf('== pool image =='));
      expect(defaultPart).not.toContain('global budget');

      const j = JSON.parse((await ctx().run(['explain', '--cycle', String(cycle), '--json'])).stdout) as {
        cycle: number;
        pools: { pool: string; focusCycle: number; conclusion: string }[];
      };
      expect(j.pools.map((p) => [p.pool, p.focusCycle])).toEqual([
        ['default', cycle],
        ['image', cycle],
        ['video', cycle],
      ]);
      expect(j.pools[1].conclusion).toContain(WHY_IMAGE);

      const one = await ctx().run(['explain', '--cycle', String(onlyDefault)]);
      expect(one.code).toBe(0);
      expect(one.stdout).not.toContain('== pool');
      const oneJson = JSON.parse((await ctx().run(['explain', '--cycle', String(onlyDefault), '--json'])).stdout);
      expect(oneJson.focusCycle).toBe(onlyDefault);
      expect(oneJson.pools).toBeUndefined();
    });

    test("--cycle N of every pool gives each pool what --pool gives it: its decision's spawns and their workers' readiness, no other pool's", async () => {
      const all = (await ctx().run(['explain', '--cycle', String(cycle)])).stdout;
      const part = (pool: string, next: string | null) =>
        all.slice(
          all.indexOf(`== pool ${pool} ==\n`) + `== pool ${pool} ==\n`.length,
          next ? all.indexOf(`\n== pool ${next} ==`) : undefined,
        );
      for (const [pool, next] of [
        ['default', 'image'],
        ['image', 'video'],
        ['video', null],
      ] as const) {
        const one = await ctx().run(['explain', '--cycle', String(cycle), '--pool', pool]);
        expect({ pool, text: part(pool, next).trim() }).toEqual({ pool, text: one.stdout.trim() });
      }
      // the default pool's decision has its spawn results (caused by it); the copies in image and video, none
      expect(part('default', 'image')).not.toContain('No spawn result is recorded');
      expect(part('image', 'video')).toContain('No spawn result is recorded');
      expect(part('video', null)).toContain('No spawn result is recorded');
    });

    test('a pool the store has no record of: an error naming the pools it has', async () => {
      const r = await ctx().run(['explain', '--pool', 'audio', '--cycle', String(cycle)]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(
        'pool audio has no record in the store: its pools are default, image, video (name one with --pool)',
      );
      const known = await ctx().run(['explain', '--pool', 'video', '--cycle', '99999']);
      expect(known.code).toBe(3);
      expect(known.stderr).toContain(`no cycle #99999 of pool video in the store (cycles run from 1 to ${cycle})`);
    });
  },
);
