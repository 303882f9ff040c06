import { describeOnStores, positions, type RecordedEvent, runMain, useTimelineStore, waitFor } from './run-cli';

/** The operators' spurious jump: the task source says 51 at this time. */
const JUMP_AT = '2026-11-27T18:25:42.000Z';

/** The fields these assertions read of any event (a widening of its typed data, not a cast). */
type Data = { readonly [k: string]: unknown; cycle?: number | null; at?: string };
const data = (e: RecordedEvent): Data => e.data;

let dir: string;
let recorded: RecordedEvent[];
const env = () => ({ DATABASE_URL: `pglite://${dir}` });
const find = (type: string, at: string) => {
  const e = recorded.find((x) => x.type === type && data(x).at === at);
  if (!e) throw new Error(`the timeline has no ${type} at ${at}`);
  return e;
};

useTimelineStore((d, r) => {
  dir = d;
  recorded = r;
});

describe('gpu-scaler events (main, embedded store)', () => {
  test('the spurious jump, by a time window and types, in UTC', async () => {
    const jump = find('TaskCountObserved', JUMP_AT);
    const decision = find('ScalingDecided', JUMP_AT);
    const cycle = data(jump).cycle;
    const r = await runMain(
      [
        'events',
        '--since',
        '2026-11-27T18:25:42Z',
        '--until',
        '2026-11-27T18:25:42Z',
        '--type',
        'TaskCountObserved,scalingdecided',
        '--utc',
      ],
      env(),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      new RegExp(
        `^\\s*${jump.globalPosition}  2026-11-27 18:25:42Z  controller\\s+TaskCountObserved\\s+` +
          `cycle ${cycle} queued=51 active=0 total=51$`,
      ),
    );
    expect(lines[1]).toMatch(
      new RegExp(
        `^\\s*${decision.globalPosition}  2026-11-27 18:25:42Z  controller\\s+ScalingDecided\\s+` +
          `cycle ${cycle} SCALE_UP by 4 desired=4 current=0 \\(capped by MAX_WORKERS,MAX_ACTIVE_GPUS\\)$`,
      ),
    );
  });

  test('--json prints an array of events with their data', async () => {
    const r = await runMain(['events', '--type', 'AnomalyDetected', '--json'], env());
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { globalPosition: number; type: string; time: string; data: Data }[];
    const expected = recorded.filter((e) => e.type === 'AnomalyDetected');
    expect(expected.length).toBeGreaterThan(0);
    expect(out.map((e) => e.globalPosition)).toEqual(expected.map((e) => e.globalPosition));
    expect(out.map((e) => e.data.kind)).toEqual(expected.map((e) => data(e).kind));
    expect(out.map((e) => [e.type, e.time])).toEqual(out.map((e) => ['AnomalyDetected', e.data.at]));
    expect(out.map((e) => e.data.kind)).toContain('task_count_from_nowhere');
  });

  test('nothing matches: exit 3, and it says what the store holds and what to try', async () => {
    const r = await runMain(['events', '--type', 'TaskCountRejected', '--since', '2026-11-27T18:00:00Z'], env());
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no events match --type TaskCountRejected');
    expect(r.stderr).toContain(`The store has ${recorded.length} events`);
    expect(r.stderr).toContain('try a wider window (--since/--until) or fewer filters (--type/--stream)');
  });

  test('usage errors exit 2 with a message saying what to do', async () => {
    const badType = await runMain(['events', '--type', 'ScalingDecided,Bogus'], env());
    expect(badType.code).toBe(2);
    expect(badType.stderr).toMatch(/--type "Bogus" is not an event type; known types: (\w+, )*AnomalyDetected,/);
    expect(badType.stderr).toContain('ScalingDecided');

    const badTime = await runMain(['events', '--since', 'yesterday'], env());
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain('--since "yesterday" is not a time: use a duration ago (30m, 1h, 2d)');

    const unknown = await runMain(['events', '--frobnicate'], env());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--frobnicate'");

    const badLimit = await runMain(['events', '--limit', 'ten'], env());
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('--limit ten is not allowed: expected a whole number >= 0');

    const backwards = await runMain(['events', '--since', '2026-11-27T19:00Z', '--until', '2026-11-27T18:00Z'], env());
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toContain('is after --until');

    const followUntil = await runMain(['events', '--follow', '--until', '1h'], env());
    expect(followUntil.code).toBe(2);
    expect(followUntil.stderr).toContain('--until and --follow do not go together');
  });

  test('--help describes the options', async () => {
    const r = await runMain(['events', '--help'], env());
    expect(r.code).toBe(0);
    for (const flag of [
      '--type',
      '--stream',
      '--since',
      '--until',
      '--from-position',
      '--limit',
      '--follow',
      '--json',
    ]) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toContain('Examples:');
  });
});

describeOnStores(
  'gpu-scaler events',
  () => dir,
  (ctx) => {
    test('by default the newest 100, oldest first; with --limit it says what was left out', async () => {
      const all = await ctx().run(['events']);
      expect(all.code).toBe(0);
      expect(positions(all.stdout)).toEqual(recorded.slice(-100).map((e) => e.globalPosition));

      const r = await ctx().run(['events', '--limit', '3']);
      expect(r.code).toBe(0);
      expect(positions(r.stdout)).toEqual(recorded.slice(-3).map((e) => e.globalPosition));
      expect(r.stderr).toContain(`showing the newest 3 of ${recorded.length} matching events`);
      expect(r.stderr).toContain(`--limit ${recorded.length} shows them all`);
    });

    test('--from-position pages forward and says where to continue', async () => {
      const jump = find('TaskCountObserved', JUMP_AT);
      const p = jump.globalPosition;
      const r = await ctx().run(['events', '--from-position', String(p), '--limit', '2']);
      expect(r.code).toBe(0);
      expect(positions(r.stdout)).toEqual([p, p + 1]);
      expect(r.stdout.split('\n')[0]).toContain(`cycle ${data(jump).cycle} queued=51 active=0 total=51`);
      expect(r.stderr).toContain(`continue with --from-position ${p + 2}`);
    });

    test('--stream with * selects worker streams; their lines summarise the lifecycle', async () => {
      const first = recorded.find((e) => e.type === 'WorkerSpawnRequested' && data(e).at === JUMP_AT);
      if (!first) throw new Error('no spawn at the jump');
      const stream = first.streamId;
      const r = await ctx().run(['events', '--stream', `${stream.slice(0, -3)}*`, '--utc']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const expected = recorded.filter((e) => e.streamId.startsWith(stream.slice(0, -3)));
      expect(positions(r.stdout)).toEqual(expected.map((e) => e.globalPosition));
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(
        new RegExp(`${stream}\\s+WorkerSpawnRequested\\s+cycle ${data(first).cycle} spawn 1/4 via simulated$`),
      );
      expect(lines).toContainEqual(expect.stringMatching(/WorkerActivated\s+active on pod \S+$/));
    });

    test('times are local by default (--since without a zone too), UTC with --utc', async () => {
      const jump = find('TaskCountObserved', JUMP_AT);
      const d = new Date(JUMP_AT);
      const p2 = (n: number) => String(n).padStart(2, '0');
      const localDate = `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}`;
      const localTime = `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
      const local = await ctx().run([
        'events',
        '--type',
        'TaskCountObserved',
        '--since',
        `${localDate}T${localTime}`,
        '--until',
        `${localDate} ${localTime}`,
      ]);
      expect(local.code).toBe(0);
      expect(positions(local.stdout)).toEqual([jump.globalPosition]);
      expect(local.stdout).toContain(` ${localDate} ${localTime}  controller`);

      const utc = await ctx().run([
        'events',
        '--utc',
        '--type',
        'TaskCountObserved',
        '--since',
        '2026-11-27T18:25:42',
        '--until',
        '2026-11-27T18:25:42',
      ]);
      expect(utc.code).toBe(0);
      expect(positions(utc.stdout)).toEqual([jump.globalPosition]);
      expect(utc.stdout).toContain(' 2026-11-27 18:25:42Z  controller');
    });

    test('--follow prints the backlog, then matching events as they are committed, until stopped', async () => {
      const stop = new AbortController();
      const run = ctx().start(['events', '--follow', '--type', 'AnomalyDetected', '--limit', '1', '--json'], {
        signal: stop.signal,
        pollMs: 250,
      });
      await waitFor(() => run.stderr.text.includes('following new events after position'), 'the follower to start');
      const head = recorded[recorded.length - 1].globalPosition;
      expect(run.stderr.text).toContain(`following new events after position ${head} matching --type AnomalyDetected`);

      const at = '2026-11-27T19:00:00.000Z';
      await ctx().writer.append('controller', [
        {
          type: 'TaskCountObserved',
          data: { cycle: 900, at, source: 'test', queued: 7, active: 0, total: 7, responseMs: 1, workers: null },
        },
        {
          type: 'AnomalyDetected',
          data: {
            cycle: 900,
            at,
            kind: 'task_count_spike',
            message: 'Task count jumped from 1 to 7',
            figures: { previous: 1, current: 7 },
            causes: ['a test'],
          },
        },
      ]);
      await waitFor(() => run.stdout.lines().length >= 2, 'the new anomaly to be printed');
      stop.abort();
      expect(await run.done).toBe(0);

      const lines = run.stdout
        .lines()
        .map((l) => JSON.parse(l) as { globalPosition: number; type: string; data: Data });
      const lastAnomaly = recorded.filter((e) => e.type === 'AnomalyDetected').pop();
      expect(lines).toHaveLength(2);
      expect(lines[0].globalPosition).toBe(lastAnomaly?.globalPosition);
      expect(lines[1]).toMatchObject({
        globalPosition: head + 2,
        type: 'AnomalyDetected',
        data: { cycle: 900, kind: 'task_count_spike' },
      });
    });
  },
);
