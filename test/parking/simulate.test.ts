import { loadConfig } from '../../src/config';
import { simulate } from '../../src/sim/simulate';
import { parseTrace } from '../../src/sim/trace';
import { runMain } from '../cli/run-cli';

async function run(csv: string, env: Record<string, string>, unpark = { success: 1, minSec: 10, maxSec: 10 }) {
  const { result } = await simulate({
    trace: parseTrace(csv),
    config: loadConfig({ POLICY: 'operators', ...env }),
    seed: 1,
    startup: { minSec: 60, maxSec: 60 },
    failureRate: 0,
    sloSec: 60,
    unpark,
  });
  return result;
}

describe('simulate with parked pods (30 s cycle, cold start 60 s, start from parked 10 s, idle timeout 300 s)', () => {
  const GAP = 'arrival,duration\n0,10\n1000,10\n';

  it('PARKED_MAX=0: the late task waits for a cold pod, as before', async () => {
    const r = await run(GAP, {});
    expect(r.wait.max).toBe(80);
    expect(r.gpuSeconds).toBe(390 + 390);
    expect(r.parking).toEqual({ parked: 0, unparked: 0, refused: 0, parkedPodHours: 0 });
  });

  it('PARKED_MAX=1: the idle pod is parked at 390 (no GPU billed), the late task starts it: up in 10 s, not 60', async () => {
    const r = await run(GAP, { PARKED_MAX: '1' });
    // seen at the cycle of 1020, up at 1030: waited 30 s (the first task waited 60 s for its cold pod);
    // billed 0-390 and 1020-1350 (300 s idle after 1040, parked again at the cycle of 1350)
    expect(r.wait).toMatchObject({ p50: 30, max: 60 });
    expect([r.spawns, r.parking.parked, r.parking.unparked, r.parking.refused]).toEqual([1, 2, 1, 0]);
    expect(r.gpuSeconds).toBe(390 + 330);
    expect(r.parking.parkedPodHours).toBeGreaterThan(0);
  });

  it('a refused start (--unpark-success 0) terminates the parked pod and cold-creates at once', async () => {
    const r = await run(GAP, { PARKED_MAX: '1' }, { success: 0, minSec: 10, maxSec: 10 });
    expect(r.wait.max).toBe(80);
    expect([r.spawns, r.parking.parked, r.parking.unparked, r.parking.refused]).toEqual([2, 2, 0, 1]);
  });

  it('the CLI takes --unpark-success and --unpark-min/max-sec and reports parking', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gs-park-sim-'));
    const file = path.join(dir, 't.csv');
    fs.writeFileSync(file, GAP);
    try {
      const r = await runMain(
        [
          'simulate',
          '--trace',
          file,
          '--policy',
          'operators',
          '--set',
          'PARKED_MAX=2',
          '--startup-min-sec',
          '60',
          '--startup-max-sec',
          '60',
          '--unpark-success',
          '1',
          '--unpark-min-sec',
          '10',
          '--unpark-max-sec',
          '10',
        ],
        {},
      );
      expect(r.stdout).toMatch(/parked \/ unparked {6}2 \/ 1 \(0 starts refused, [\d.]+ parked pod-hours\)/);
      const bad = await runMain(['simulate', '--trace', file, '--unpark-min-sec', '20', '--unpark-max-sec', '5'], {});
      expect(bad.stderr).toContain('--unpark-max-sec 5 is below --unpark-min-sec 20');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
