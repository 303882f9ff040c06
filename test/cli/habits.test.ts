import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/util/package-root';
import { TIMELINE_DAY } from '../helpers/timeline';
import { positions, type RecordedEvent, runMain, useTimelineStore } from './run-cli';

/** The habits every command shares: exit codes, --version, --until, --now. */

let dir: string;
let recorded: RecordedEvent[];
const env = () => ({ DATABASE_URL: `pglite://${dir}` });

useTimelineStore((d, r) => {
  dir = d;
  recorded = r;
});

describe('one set of CLI habits', () => {
  test('--version prints the version of package.json and exits 0', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8'));
    for (const flag of ['--version', '-V']) {
      const r = await runMain([flag], {});
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: `${version}\n` });
    }
  });

  test('start --cycles 0 is bad usage: exit 2, before anything is opened', async () => {
    for (const bad of ['0', '-1', '1.5', 'ten']) {
      const r = await runMain(['start', '--cycles', bad], { DATABASE_URL: 'memory://' });
      expect({ bad, code: r.code }).toEqual({ bad, code: 2 });
      expect(r.stderr).toContain(`--cycles ${bad} is not allowed: expected a whole number >= 1`);
    }
  });

  test('events --until takes a global position, as replay does', async () => {
    const n = recorded[Math.floor(recorded.length / 2)].globalPosition;
    const r = await runMain(['events', '--until', String(n), '--limit', '1000'], env());
    expect(r.code).toBe(0);
    expect(positions(r.stdout)).toEqual(recorded.filter((e) => e.globalPosition <= n).map((e) => e.globalPosition));

    const backwards = await runMain(['events', '--from-position', String(n + 1), '--until', String(n)], env());
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toContain(`--from-position ${n + 1} is after --until ${n}`);
  });

  test('--now sets what a time of day means in events, explain and replay, and is checked the same way', async () => {
    const now = `${TIMELINE_DAY}T20:00:00Z`;
    const atJump = (e: RecordedEvent) => e.data.at === `${TIMELINE_DAY}T18:25:42.000Z`;
    const ev = await runMain(
      ['events', '--since', '18:25:42', '--until', '18:25:42', '--utc', '--now', now, '--limit', '1000'],
      env(),
    );
    expect(ev.code).toBe(0);
    expect(positions(ev.stdout)).toEqual(recorded.filter(atJump).map((e) => e.globalPosition));

    // an hour ago, from --now
    const ago = await runMain(['events', '--since', '2h', '--until', '1h', '--now', now, '--limit', '1000'], env());
    const window = recorded.filter((e) => {
      const t = Date.parse(e.data.at);
      return t >= Date.parse(now) - 2 * 3_600_000 && t <= Date.parse(now) - 3_600_000;
    });
    expect(positions(ago.stdout)).toEqual(window.map((e) => e.globalPosition));

    const replay = await runMain(['replay', '--until', '18:26', '--utc', '--now', now, '--json'], env());
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ schema: 'asof_20261127_182600' });

    const explain = await runMain(['explain', '--at', '18:25:42', '--utc', '--now', now, '--json'], env());
    expect(explain.code).toBe(0);
    expect(JSON.parse(explain.stdout).at).toBe(`${TIMELINE_DAY}T18:25:42.000Z`);

    for (const cmd of [['events'], ['explain', '--at', '18:25'], ['status'], ['replay', '--until', '18:26']]) {
      const bad = await runMain([...cmd, '--now', 'soon'], env());
      expect({ cmd, code: bad.code }).toEqual({ cmd, code: 2 });
      expect(bad.stderr).toContain('--now "soon" is not a time');
    }
  });

  test('--now and --window read the same in every command help', async () => {
    for (const cmd of ['events', 'explain', 'status', 'replay']) {
      const r = await runMain([cmd, '--help'], {});
      expect(r.stdout).toContain('--now <time>');
    }
    for (const cmd of ['explain', 'status']) {
      const r = await runMain([cmd, '--help'], {});
      expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/--window <duration> [^(]*: a duration: 90s, 2m, 1h or 7d/);
    }
  });
});
