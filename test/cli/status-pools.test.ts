import { isEvent } from '../../events/index';
import type { AllocationRecord } from '../../events/scaling';
import { shareText } from '../../src/pools/allocate';
import type { NewEvent } from '../../src/store/event-store';
import { describeOnStores, type RecordedEvent, runMain, useTimelineStore, visibleToReaders } from './run-cli';

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

/** One past the timeline's last cycle. */
const END = '2026-11-27T18:41:12.000Z';

/** How the global cap was shared in video's cycle: default (priority 10) first, video got 2 of the 6 it wanted. */
const ALLOCATION: AllocationRecord = {
  caps: { gpus: 8 },
  shares: [
    {
      pool: 'video',
      priority: 0,
      wantWorkers: 6,
      floorWorkers: 0,
      gotWorkers: 2,
      gpusPerWorker: 1,
      limitedBy: 'GLOBAL_MAX_ACTIVE_GPUS',
    },
    {
      pool: 'default',
      priority: 10,
      wantWorkers: 6,
      floorWorkers: 0,
      gotWorkers: 6,
      gpusPerWorker: 1,
      limitedBy: null,
    },
  ],
};

/**
 * The timeline is one pool (default). A second pool, video, repeats its first scale-up cycle on its
 * own stream, its decision recording the global budget's sharing.
 */
function videoCycle(): { cycle: number; events: NewEvent[] } {
  const up = recorded.find((e) => e.type === 'ScalingDecided' && e.data.decision === 'SCALE_UP');
  if (!up) throw new Error('the timeline has no scale-up');
  const cycle = Number(data(up).cycle);
  const events = recorded
    .filter((e) => e.streamId === 'controller' && data(e).cycle === cycle)
    .map((e) => {
      const v = inVideo(e);
      const decided = isEvent('ScalingDecided')(v) ? { ...v, data: { ...v.data, allocation: ALLOCATION } } : v;
      return { ...decided, eventId: undefined, metadata: { cycle } };
    });
  return { cycle, events };
}

describe('status on a store of one pool', () => {
  test('--pool of another pool names the one there is; --pool default prints as without it', async () => {
    const env = { DATABASE_URL: `pglite://${dir}` };
    const r = await runMain(['status', '--pool', 'video'], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('no pool video in the store: its pool is default');
    const plain = await runMain(['status', '--now', END, '--utc'], env);
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toContain('Pool');
    expect((await runMain(['status', '--pool', 'default', '--now', END, '--utc'], env)).stdout).toBe(plain.stdout);
  });
});

describeOnStores(
  'status on a store with two pools',
  () => dir,
  (ctx) => {
    let cycle: number;
    let lastDefaultCycle: number;
    beforeAll(async () => {
      const v = videoCycle();
      cycle = v.cycle;
      lastDefaultCycle = Math.max(
        ...recorded.filter((e) => e.type === 'ScalingDecided').map((e) => Number(data(e).cycle)),
      );
      const res = await ctx().writer.append('controller@video', v.events);
      const spawn = await ctx().writer.append('worker-video-w1', [
        {
          type: 'WorkerSpawnRequested',
          data: {
            workerId: 'video-w1',
            pool: 'video',
            at: '2026-11-27T18:40:00.000Z',
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
      // video's task source fails at its next cycle: its condition, not default's
      const failing = await ctx().writer.append('controller@video', [
        {
          type: 'ConditionChanged',
          data: {
            type: 'SourceHealthy',
            status: 'False',
            reason: 'FleetHeldOnSourceFailure',
            message: 'the task source failed 3 cycles in a row: the fleet is held',
            since: '2026-11-27T18:40:30.000Z',
            cycle: cycle + 1,
            at: '2026-11-27T18:40:30.000Z',
            pool: 'video',
            previous: null,
          },
          metadata: { cycle: cycle + 1 },
        },
      ]);
      await visibleToReaders(
        ctx().store,
        Math.max(...res.globalPositions, ...spawn.globalPositions, ...failing.globalPositions),
      );
    });

    test('without --pool: a heading per pool with its fleet, last decision and share of the global budget', async () => {
      const r = await ctx().run(['status', '--now', END, '--utc']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const out = r.stdout;
      expect(out).toContain('\nPools: default, video\n');
      const dflt = out.slice(out.indexOf('== Pool default =='), out.indexOf('== Pool video =='));
      const video = out.slice(out.indexOf('== Pool video =='));
      expect(dflt).toContain(`Last decision: cycle ${lastDefaultCycle} at`);
      expect(dflt).not.toContain('video-w1');
      expect(dflt).not.toContain('  share ');
      expect(video).toMatch(/\nFleet: spawning 1 \(\S+\); ended: terminated 0, failed 0\n/);
      expect(video).toContain('\n  video-w1 ');
      expect(video).toContain(`Last decision: cycle ${cycle} at`);
      // each pool its own conditions
      expect(video).toContain('\n  SourceHealthy=False (FleetHeldOnSourceFailure) since 2026-11-27 18:40:30');
      expect(dflt).toContain('\n  SourceHealthy=True (TaskCountAccepted) since');
      // the share, in the one renderer's words
      const share = shareText(ALLOCATION, 'video');
      expect(share).toBe(
        'wanted 6 GPUs, got 2: GLOBAL_MAX_ACTIVE_GPUS=8 went first to default (priority 10, wanted 6)',
      );
      expect(video).toContain(`\n  share     ${share}\n`);
      expect(out).not.toMatch(/undefined|NaN|\[object/);
    });

    test('as JSON: each pool its own part; the top level is the whole store as before pools', async () => {
      const j = JSON.parse((await ctx().run(['status', '--json', '--now', END])).stdout);
      expect(j.storePools).toEqual(['default', 'video']);
      expect(j.pools.map((p: { pool: string }) => p.pool)).toEqual(['default', 'video']);
      const [dflt, video] = j.pools;
      expect(dflt.lastDecision).toMatchObject({ pool: 'default', cycle: lastDefaultCycle });
      expect(dflt.share).toBeNull();
      expect(video.lastDecision).toMatchObject({ pool: 'video', cycle });
      expect(video.share).toBe(shareText(ALLOCATION, 'video'));
      expect(video.workers.map((w: { workerId: string }) => w.workerId)).toEqual(['video-w1']);
      expect(j.workers.map((w: { workerId: string }) => w.workerId)).toContain('video-w1');
    });

    test('--pool video: that pool alone, as a one-pool store prints, saying which pool', async () => {
      const r = await ctx().run(['status', '--pool', 'video', '--now', END, '--utc']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("\nPool: video (the store's pools: default, video)\n");
      expect(r.stdout).not.toContain('== Pool');
      expect(r.stdout).toContain(`Last decision: cycle ${cycle} at`);
      expect(r.stdout).toContain(`\n  share     ${shareText(ALLOCATION, 'video')}\n`);
      const two = await ctx().run(['status', '--pool', 'video', '--pool', 'default', '--now', END]);
      expect(two.stdout).toContain('\nPools: video, default\n');
    });

    test('--pool of a pool the store lacks: nothing found, naming the pools it has', async () => {
      const r = await ctx().run(['status', '--pool', 'image']);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(
        'no pool image in the store: its pools are default, video (gpu-scaler status --pool <pool>)',
      );
    });
  },
);
