import { FakeClock } from '../../src/clock';
import { LEVEL_WAIT_MIN_MS, PoolCadence, stillRunningLine } from '../../src/pools/cadence';

type Pool = { name: string };
const video: Pool = { name: 'video' };
const image: Pool = { name: 'image' };

/** A cadence whose pools' cycles end when the test says so. */
function setup(intervalMs: number) {
  const clock = new FakeClock();
  const ends = new Map<string, () => void>();
  const ran: string[] = [];
  const skipped: [string, number][] = [];
  const cadence = new PoolCadence<Pool>({
    clock,
    intervalMs,
    run: (p) =>
      new Promise<void>((resolve) => {
        ran.push(p.name);
        ends.set(p.name, resolve);
      }),
    skipped: (p, ms) => skipped.push([p.name, ms]),
  });
  const end = (name: string) => ends.get(name)?.();
  return { clock, cadence, ran, skipped, end };
}

/** Whether a promise has settled once the work queued so far has run (the fake clock has no timers). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((r) => setImmediate(r));
  return done;
}

describe("the pools' cadence", () => {
  test('a level is waited for until its cycles end', async () => {
    const { cadence, ran, end } = setup(30_000);
    const level = cadence.level([video, image]);
    expect(ran).toEqual(['video', 'image']);
    end('video');
    expect(await settled(level)).toBe(false);
    end('image');
    expect(await settled(level)).toBe(true);
    expect(cadence.running()).toEqual([]);
  });

  test('a hung cycle holds its level one interval at most; then it is neither started again nor waited for, and says so', async () => {
    const { clock, cadence, ran, skipped, end } = setup(30_000);
    const first = cadence.level([video]);
    clock.advance(29_999);
    expect(await settled(first)).toBe(false);
    clock.advance(1);
    expect(await settled(first)).toBe(true);
    expect(cadence.running()).toEqual(['video']);
    // the next ticks: video is skipped (not waited for), image runs on its cadence
    for (let tick = 1; tick <= 3; tick++) {
      clock.advance(30_000);
      const next = cadence.level([video, image]);
      end('image');
      expect(await settled(next)).toBe(true);
    }
    expect(ran).toEqual(['video', 'image', 'image', 'image']);
    expect(skipped).toEqual([
      ['video', 60_000],
      ['video', 90_000],
      ['video', 120_000],
    ]);
    // once it ends, it runs again at the next tick
    end('video');
    expect(await settled(cadence.settled())).toBe(true);
    const again = cadence.level([video]);
    expect(ran.at(-1)).toBe('video');
    end('video');
    expect(await settled(again)).toBe(true);
  });

  test('a very short interval still waits LEVEL_WAIT_MIN_MS for a slow cycle', async () => {
    const { clock, cadence } = setup(50);
    const level = cadence.level([video]);
    clock.advance(LEVEL_WAIT_MIN_MS - 1);
    expect(await settled(level)).toBe(false);
    clock.advance(1);
    expect(await settled(level)).toBe(true);
  });

  test('the line a skipped pool logs', () => {
    expect(stillRunningLine(12, 95_000)).toBe(
      '⏳ Cycle #12 still running after 95 s: this pool skips this tick (the other pools keep their cadence)',
    );
  });
});
