import path from 'node:path';
import type { CliIo } from '../../src/cli/context';
import { main } from '../../src/cli/main';
import { Capture } from '../helpers/harness';
import { removeStoreDir, TIMELINE_DAY, timelineResults, timelineStoreDir } from '../helpers/timeline';

// biome-ignore lint/suspicious/noExplicitAny: JSON output in assertions
type Any = any;

describe('gpu-scaler explain (and demo)', () => {
  let dir: string;
  let url: string;
  let spuriousCycle: number;

  beforeAll(async () => {
    // a copy of the operators' timeline as recorded once per run (test/helpers/timeline.ts)
    // (its data directory is <dir>/db, as when this file recorded its own)
    dir = path.dirname(await timelineStoreDir());
    url = `pglite://${path.join(dir, 'db')}`;
    const results = await timelineResults();
    spuriousCycle = results.find((r) => r.index === 3)?.keyCycle as number;
  }, 240_000);
  afterAll(() => {
    if (dir) removeStoreDir(path.join(dir, 'db'));
  });

  async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const stdout = new Capture();
    const stderr = new Capture();
    const io: CliIo = { stdout, stderr, stdin: process.stdin, env: { DATABASE_URL: url }, isTTY: false };
    const code = await main(['node', 'gpu-scaler', ...args], io);
    return { code, out: stdout.text, err: stderr.text };
  }

  test('explain --at on the spurious scale-up names the 0 -> 51 jump, the cap and the 4 spawns', async () => {
    const r = await cli('explain', '--at', '18:25:42', '--utc', '--now', `${TIMELINE_DAY}T20:00:00Z`);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^\[18:25:42\] #\d+ TASK COUNT: Queued=51, Active=0, Total=51/));
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^\[18:25:42\] #\d+ SCALING DECISION: Current=0, Desired=10, Final=4 \(MAX_ACTIVE_GPUS=4\)$/,
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^\[18:25:42\] #\d+ 🚀 SCALING UP: Creating 4 new workers \(desired 51 capped to 4 by MAX_WORKERS=10, then MAX_ACTIVE_GPUS=4\)$/,
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^\[18:25:42\] #\d+ 🚨 ANOMALY DETECTED: Task count jumped from 0 to 51$/),
    );
    for (const i of [1, 2, 3, 4]) {
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`#\\d+ ✅ Worker ${i}/4 spawned`)));
    }
    const conclusion = lines.find((l) => l.startsWith('At '));
    expect(conclusion).toContain(`(cycle #${spuriousCycle}) the task source`);
    expect(conclusion).toContain('reported 51 tasks: 51 queued and 0 active (the cycle before it reported 0)');
    expect(conclusion).toContain('MAX_WORKERS=10 cut it from 51 to 10, then MAX_ACTIVE_GPUS=4 cut it from 10 to 4');
    expect(conclusion).toContain('SCALE UP by 4');
    expect(conclusion).toContain('task count from nowhere ("Task count jumped from 0 to 51")');
    expect(conclusion).toContain('Spawns: 4 of 4 succeeded');
    // positions are in order
    const positions = lines
      .map((l) => /^\[[\d:]+\] #(\d+)/.exec(l)?.[1])
      .filter(Boolean)
      .map(Number);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  test('explain --cycle --json gives the same as data', async () => {
    const r = await cli('explain', '--cycle', String(spuriousCycle), '--json');
    expect(r.code).toBe(0);
    const j: Any = JSON.parse(r.out);
    expect(j.focusCycle).toBe(spuriousCycle);
    const f = j.cycles.find((c: Any) => c.cycle === spuriousCycle);
    expect(f.observed).toMatchObject({ queued: 51, active: 0, total: 51 });
    expect(f.previousTotal).toBe(0);
    expect(f.decision).toMatchObject({ requested: 10, desired: 4, decision: 'SCALE_UP', delta: 4 });
    expect(f.anomalies.map((a: Any) => a.kind).sort()).toEqual(['rapid_scale_up', 'task_count_from_nowhere']);
    expect(f.spawns.filter((s: Any) => s.ok).map((s: Any) => `${s.ordinal}/${s.of}`)).toEqual([
      '1/4',
      '2/4',
      '3/4',
      '4/4',
    ]);
    expect(j.conclusion).toContain('SCALE UP by 4');
  });

  test('empty windows, bad times and unknown cycles get clear messages and exit codes', async () => {
    const empty = await cli('explain', '--at', `${TIMELINE_DAY}T03:00:00Z`);
    expect(empty.code).toBe(3);
    expect(empty.err).toMatch(/no events between .* The store has events from .* Try a wider --window/);
    const bad = await cli('explain', '--at', 'half past six');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(
      /--at "half past six" is not a time: use a duration ago \(30m, 1h, 2d\), a time of day \(18:25\) or an ISO timestamp/,
    );
    const badWindow = await cli('explain', '--at', '18:25', '--window', 'long');
    expect(badWindow.code).toBe(2);
    expect(badWindow.err).toMatch(/--window "long" is not a duration/);
    const noCycle = await cli('explain', '--cycle', '9999');
    expect(noCycle.code).toBe(3);
    expect(noCycle.err).toMatch(/no cycle #9999 in the store \(cycles run from 1 to \d+\)/);
    const unknown = await cli('explain', '--at', '18:25', '--frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown option '--frobnicate'/);
  });

  test('demo runs the four scenarios, explains the spurious scale-up and keeps its store with --data-dir', async () => {
    const demoDir = path.join(dir, 'demo-db');
    const stdout = new Capture();
    const io: CliIo = { stdout, stderr: new Capture(), stdin: process.stdin, env: {}, isTTY: false };
    const code = await main(['node', 'gpu-scaler', 'demo', '--log', '--data-dir', demoDir], io);
    expect(code).toBe(0);
    const text = stdout.text;
    for (const title of ['Normal operation', 'Legitimate scale-up', 'Spurious scale-up', 'Database logging failure']) {
      expect(text).toContain(title);
    }
    expect(text).toContain(
      '🚀 SCALING UP: Creating 4 new workers (desired 51 capped to 4 by MAX_WORKERS=10, then MAX_ACTIVE_GPUS=4)',
    );
    expect(text).toMatch(/❌ CRITICAL: Database logging initialization FAILED/);
    expect(text).toMatch(/HEALTH CHECK \(Cycle #\d+\): FAILING/);
    expect(text).toContain('🚨 ANOMALY DETECTED: Task count jumped from 0 to 51');
    expect(text).toContain('Spawns: 4 of 4 succeeded');
    expect(text).toContain(`DATABASE_URL=pglite://${demoDir} gpu-scaler explain --at`);
    expect(text).toContain('from scaling_decisions');
    // the kept store answers the printed command
    const at = /gpu-scaler explain --at (\S+)/.exec(text.split('The store is kept')[1])?.[1] as string;
    const out = new Capture();
    const again: CliIo = {
      stdout: out,
      stderr: new Capture(),
      stdin: process.stdin,
      env: { DATABASE_URL: `pglite://${demoDir}` },
      isTTY: false,
    };
    expect(await main(['node', 'gpu-scaler', 'explain', '--at', at], again)).toBe(0);
    expect(out.text).toContain('Task count jumped from 0 to 51');
  });
});
