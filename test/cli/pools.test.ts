import type { NewEvent } from '../../src/store/event-store';
import {
  describeOnStores,
  positions,
  type RecordedEvent,
  runMain,
  useTimelineStore,
  visibleToReaders,
} from './run-cli';

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

/** The timeline is one pool (default). A second pool, video, repeats its first scale-up cycle on its own streams. */
function videoCycle(): { cycle: number; events: NewEvent[] } {
  const up = recorded.find((e) => e.type === 'ScalingDecided' && e.data.decision === 'SCALE_UP');
  if (!up) throw new Error('the timeline has no scale-up');
  const cycle = Number(data(up).cycle);
  const events = recorded
    .filter((e) => e.streamId === 'controller' && data(e).cycle === cycle)
    .map((e) => ({ ...inVideo(e), eventId: undefined, metadata: { cycle } }));
  return { cycle, events };
}

describe('--pool: one form, a clear error', () => {
  test('a bad pool name is bad usage naming what is allowed, in every command that has the flag', async () => {
    for (const cmd of ['events', 'status', 'explain']) {
      const r = await runMain([cmd, '--pool', 'Video_1'], { DATABASE_URL: `pglite://${dir}` });
      expect({ cmd, code: r.code }).toEqual({ cmd, code: 2 });
      expect(r.stderr).toContain(
        "--pool Video_1 is not allowed: a pool name is 1 to 40 lowercase letters, digits and '-'",
      );
    }
  });
});

describeOnStores(
  '--pool on a store with two pools',
  () => dir,
  (ctx) => {
    let cycle: number;
    let videoPositions: number[];
    beforeAll(async () => {
      const v = videoCycle();
      cycle = v.cycle;
      const res = await ctx().writer.append('controller@video', v.events);
      const spawn = await ctx().writer.append('worker-video-w1', [
        {
          type: 'WorkerSpawnRequested',
          data: {
            workerId: 'video-w1',
            pool: 'video',
            at: String(
              data(recorded.find((e) => e.streamId === 'controller' && data(e).cycle === cycle) ?? recorded[0]).at,
            ),
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
      videoPositions = [...res.globalPositions, ...spawn.globalPositions];
      await visibleToReaders(ctx().store, videoPositions[videoPositions.length - 1]);
    });

    test('events --pool video lists only that pool; --pool default what there was before; no --pool, both', async () => {
      const video = await ctx().run(['events', '--pool', 'video', '--limit', '1000']);
      expect(video.code).toBe(0);
      expect(positions(video.stdout)).toEqual(videoPositions);
      expect(video.stdout).toContain('controller@video');
      const before = await ctx().run(['events', '--pool', 'default', '--limit', '100000']);
      expect(positions(before.stdout)).toEqual(recorded.map((e) => e.globalPosition));
      const all = await ctx().run(['events', '--limit', '100000']);
      expect(positions(all.stdout)).toEqual([...recorded.map((e) => e.globalPosition), ...videoPositions]);
      const none = await ctx().run(['events', '--pool', 'image']);
      expect(none.code).toBe(3);
      expect(none.stderr).toContain('no events match --pool image');
    });

    test("status --pool video shows that pool's last decision and workers; --pool default the rest", async () => {
      const video = JSON.parse((await ctx().run(['status', '--json', '--pool', 'video'])).stdout);
      expect(video.lastDecision).toMatchObject({ pool: 'video', cycle });
      expect(video.workers.map((w: { workerId: string }) => w.workerId)).toEqual(['video-w1']);
      const dflt = JSON.parse((await ctx().run(['status', '--json', '--pool', 'default'])).stdout);
      expect(dflt.lastDecision.pool).toBe('default');
      expect(dflt.workers.map((w: { workerId: string }) => w.workerId)).not.toContain('video-w1');
    });

    test('explain --cycle reads the cycle of the pool named (default: every pool that has it, apart); two pools with --cycle is bad usage', async () => {
      const video = await ctx().run(['explain', '--cycle', String(cycle), '--pool', 'video', '--json']);
      expect(video.code).toBe(0);
      const j = JSON.parse(video.stdout) as { timeline: { position: number }[] };
      const shown = j.timeline.map((l) => l.position);
      expect(shown.length).toBeGreaterThan(0);
      expect(shown.every((p) => videoPositions.includes(p))).toBe(true);
      const dflt = JSON.parse(
        (await ctx().run(['explain', '--cycle', String(cycle), '--pool', 'default', '--json'])).stdout,
      ) as {
        timeline: { position: number }[];
      };
      expect(dflt.timeline.some((l) => videoPositions.includes(l.position))).toBe(false);
      // without --pool: each pool that has the cycle, apart
      const both = JSON.parse((await ctx().run(['explain', '--cycle', String(cycle), '--json'])).stdout) as {
        pools: { pool: string; timeline: { position: number }[] }[];
      };
      expect(both.pools.map((p) => p.pool)).toEqual(['default', 'video']);
      expect(both.pools[0].timeline.some((l) => videoPositions.includes(l.position))).toBe(false);
      expect(both.pools[1].timeline.every((l) => videoPositions.includes(l.position))).toBe(true);
      const two = await ctx().run(['explain', '--cycle', String(cycle), '--pool', 'video', '--pool', 'default']);
      expect(two.code).toBe(2);
      expect(two.stderr).toContain('give one --pool');
    });
  },
);
