import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CliIo } from '../../src/cli/context';
import { runSimulate, type SimulateFlags } from '../../src/cli/simulate';
import { loadConfig } from '../../src/config';
import { simulate } from '../../src/sim/simulate';
import { parseTrace } from '../../src/sim/trace';

/** simulate tells the truth about runs that cannot drain and about traces it cannot read right. */

async function run(csv: string, o: { env?: Record<string, string>; failureRate?: number; startup?: [number, number] }) {
  const [minSec, maxSec] = o.startup ?? [60, 60];
  const { result, store } = await simulate({
    trace: parseTrace(csv),
    config: loadConfig({ POLICY: 'operators', ...o.env }),
    seed: 1,
    startup: { minSec, maxSec },
    failureRate: o.failureRate ?? 0,
    sloSec: 60,
  });
  return { result, store };
}

const THREE = 'arrival,duration\n0,10\n5,10\n100,20\n';

describe('a run that cannot drain ends at a horizon, with the tasks left', () => {
  it.each([
    ['every spawn fails (--failure-rate 1)', { failureRate: 1 }, 'every spawn fails'],
    ['MAX_ACTIVE_GPUS=0', { env: { MAX_ACTIVE_GPUS: '0' } }, 'MAX_ACTIVE_GPUS=0: no GPU may run'],
    [
      'pods slower to start than SPAWNING_TIMEOUT_SEC',
      { startup: [700, 800] as [number, number] },
      'over SPAWNING_TIMEOUT_SEC=600',
    ],
  ])('%s', async (_name, o, likely) => {
    const { result } = await run(THREE, o);
    expect(result.undrained).toMatchObject({
      reason: 'stalled',
      stallSec: 3600,
      left: { queued: 3, running: 0, notArrived: 0 },
    });
    // ended one stall after the first task began to wait (cycle at 0 s), not left to run for ever
    expect(result.simulatedSec).toBe(3600);
    expect(result.undrained?.message).toContain('the run cannot drain: tasks waited with none running for 3600 s');
    expect(result.undrained?.message).toContain('3 tasks left (3 waiting, 0 running, 0 not yet arrived)');
    expect(result.undrained?.message).toContain(likely);
  });

  it('a run that drains says so (undrained null)', async () => {
    const { result } = await run(THREE, {});
    expect(result.undrained).toBeNull();
  });

  it('the CLI prints the message and exits 1', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-undrained-'));
    try {
      const trace = path.join(dir, 't.csv');
      fs.writeFileSync(trace, THREE);
      const text = { out: '', err: '' };
      const sink = (k: 'out' | 'err') =>
        ({
          write: (s: string) => {
            text[k] += s;
            return true;
          },
        }) as unknown as NodeJS.WritableStream;
      const io: CliIo = {
        stdout: sink('out'),
        stderr: sink('err'),
        stdin: process.stdin,
        env: {},
        isTTY: false,
      };
      const flags: SimulateFlags = {
        trace,
        maxBadShare: '0.01',
        seed: '1',
        set: ['MAX_ACTIVE_GPUS=0'],
        startupMinSec: '60',
        startupMaxSec: '180',
        failureRate: '0',
        sloSec: '60',
        progress: false,
      };
      expect(await runSimulate(io, flags)).toBe(1);
      expect(text.err).toContain('gpu-scaler: simulate default: the run cannot drain');
      expect(text.out).toContain('NOT DRAINED');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the trace: absurd rows and mixed zones are refused by line', () => {
  const rows = (extra: string) =>
    `arrival,duration\n${Array.from({ length: 200 }, (_, i) => `${i * 10},20`).join('\n')}\n${extra}\n`;

  it('a run time over the limit (a day unless raised) is a bad row named by its line', () => {
    const t = parseTrace(rows('2005,10000000'), {});
    expect(t.bad).toEqual([
      { line: 202, reason: 'a run time of 10000000 s is over the limit of 86400 s (raise it with --max-run-sec)' },
    ]);
    expect(t.tasks).toHaveLength(200);
    const raised = parseTrace(rows('2005,10000000'), { maxRunSec: 1e7 });
    expect(raised.bad).toEqual([]);
    expect(raised.tasks).toHaveLength(201);
  });

  it('a timestamp with a zone among zone-less ones (or the reverse) is a bad row named by its line', () => {
    const base = Array.from(
      { length: 150 },
      (_, i) => `2024-12-05 21:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')},20`,
    );
    const t = parseTrace(`gmt_create,duration\n${base.join('\n')}\n2024-12-05T21:01:00+08:00,20\n`);
    expect(t.bad).toEqual([
      {
        line: 152,
        reason:
          'gmt_create "2024-12-05T21:01:00+08:00" has a time zone where line 2 has none: a trace\'s timestamps all carry a zone or none do (none: read as UTC)',
      },
    ]);
    expect(t.tasks).toHaveLength(150);
    const zonedFirst = parseTrace(`gmt_create,duration\n2024-12-05T21:00:00Z,20\n${base.join('\n')}\n`, {
      maxBadShare: 1,
    });
    expect(zonedFirst.bad).toHaveLength(150);
    expect(zonedFirst.bad[0].reason).toContain('has no time zone where line 2 has one');
  });
});

describe('cycles fall on wall-clock multiples of the interval', () => {
  it('a trace starting at 21:00:08 is observed at 21:00:00, 21:00:30, ...', async () => {
    const { store, result } = await run('gmt_create,duration\n2024-12-05 21:00:08,20\n2024-12-05 21:03:17,20\n', {});
    const ats = store
      .all()
      .filter((e) => e.type === 'TaskCountObserved')
      .map((e) => (e.data as { at: string }).at);
    expect(ats.slice(0, 3)).toEqual([
      '2024-12-05T21:00:00.000Z',
      '2024-12-05T21:00:30.000Z',
      '2024-12-05T21:01:00.000Z',
    ]);
    expect(ats.every((at) => Date.parse(at) % 30_000 === 0)).toBe(true);
    // the first task waits for the cycle at 21:00:30 to be seen, then a 60 s start-up: up at 21:01:30
    expect(result.wait.max).toBe(82);
  });
});
