import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appRegistry } from '../../events/index';
import { FakeClock } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { cycleSlotAtOrBefore, nextCycleAt } from '../../src/control/cadence';
import { runService } from '../../src/service';
import { ScriptedSource } from '../../src/sources/scripted';
import { openStore } from '../../src/store/index';
import { Capture } from '../helpers/harness';
import { waitFor } from '../helpers/wait';

describe('the cycle cadence', () => {
  test('cycles fall on wall-clock multiples of the interval; one that ran past a multiple skips it', () => {
    const at = (t: string) => Date.parse(t);
    const iso = (ms: number) => new Date(ms).toISOString();
    expect(iso(cycleSlotAtOrBefore(at('2026-11-27T18:00:07Z'), 30_000))).toBe('2026-11-27T18:00:00.000Z');
    expect(iso(nextCycleAt(at('2026-11-27T18:00:07Z'), 30_000))).toBe('2026-11-27T18:00:30.000Z');
    // a cycle that took no time starts the next one an interval later, not at once
    expect(iso(nextCycleAt(at('2026-11-27T18:00:30Z'), 30_000))).toBe('2026-11-27T18:01:00.000Z');
    // a cycle from :30 that ended at 01:10 skips 01:00
    expect(iso(nextCycleAt(at('2026-11-27T18:01:10Z'), 30_000))).toBe('2026-11-27T18:01:30.000Z');
    expect(iso(nextCycleAt(at('2026-11-27T18:00:00.250Z'), 500))).toBe('2026-11-27T18:00:00.500Z');
  });
});

/** A fake clock that knows which sleeps are pending, so a test can move it to the loop's next wake. */
class DrivenClock extends FakeClock {
  readonly pending = new Set<{ until: number }>();
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    const p = super.sleep(ms, signal);
    if (ms > 0 && !signal?.aborted) {
      const entry = { until: this.now().getTime() + ms };
      this.pending.add(entry);
      void p.then(() => this.pending.delete(entry));
    }
    return p;
  }
}

/** A task source whose answer takes `slowMs` of the clock once: when first asked at `slowAt`. */
class SlowOnceSource extends ScriptedSource {
  private slowed = false;
  constructor(
    private readonly fake: FakeClock,
    private readonly slowAt: string,
    private readonly slowMs: number,
  ) {
    super(fake);
  }
  override async fetch(): Promise<unknown> {
    if (!this.slowed && this.fake.now().toISOString() === this.slowAt) {
      this.slowed = true;
      this.fake.advance(this.slowMs);
    }
    return super.fetch();
  }
}

describe('the live service on a fake clock', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-cadence-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('starts the first cycle at once, each next one at the next multiple of POLL_INTERVAL_SEC; a long cycle skips one', async () => {
    const db = `pglite://${path.join(dir, 'db')}`;
    const clock = new DrivenClock('2026-11-27T18:00:07.000Z');
    const source = new SlowOnceSource(clock, '2026-11-27T18:00:30.000Z', 40_000);
    const config = loadConfig({
      DATABASE_URL: db,
      LOG_FILE: path.join(dir, 'orchestrator.log'),
      DB_LOGGING_ERRORS_FILE: path.join(dir, 'db_logging_errors.log'),
      HTTP_PORT: '0',
      POLL_INTERVAL_SEC: '30',
      // far beyond an interval: the test only moves the clock to the loop's own wake-ups
      TASK_SOURCE_TIMEOUT_SEC: '600',
    });
    let done = false;
    const run = runService({ config, clock, source, maxCycles: 4, stdout: new Capture(), stderr: new Capture() });
    void run.finally(() => {
      done = true;
    });
    const intervalMs = 30_000;
    while (!done) {
      // the loop's sleep is the one pending wake within an interval of now
      await waitFor(
        () =>
          done ||
          [...clock.pending].some(
            (p) => p.until - clock.now().getTime() <= intervalMs && p.until > clock.now().getTime(),
          ),
        'the service loop to sleep',
        30_000,
      );
      if (done) break;
      const next = Math.min(...[...clock.pending].map((p) => p.until));
      clock.set(new Date(next));
    }
    expect(await run).toBe(0);

    const store = await openStore({ target: db, registry: appRegistry, listen: false });
    try {
      const listed = (await store.readStream('controller')).filter((e) => e.type === 'TaskCountObserved');
      const at = listed.map((e) => ('at' in e.data ? String(e.data.at) : ''));
      // cycle 2 started at :30 and its source took 40 s (counted at 01:10): 01:00 is skipped, cycle 3 is at 01:30
      expect(at.map((t) => t.slice(11, 19))).toEqual(['18:00:07', '18:01:10', '18:01:30', '18:02:00']);
    } finally {
      await store.close();
    }
  }, 120_000);
});
