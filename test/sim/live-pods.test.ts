import { FakeClock } from '../../src/clock';
import { SimulatedProvider } from '../../src/providers/simulated';

/** A simulated cycle walks the live pods only; billing still sees every pod the run had. */
describe('the simulated provider keeps its live pods apart', () => {
  it('liveLives and list leave terminated pods out; lives keeps them for billing', async () => {
    const clock = new FakeClock(new Date('2026-01-01T00:00:00Z'));
    const p = new SimulatedProvider({ clock, startupMinSec: 10, startupMaxSec: 10, failureRate: 0, seed: 1 });
    const pods = [];
    for (let i = 0; i < 5; i++) pods.push(await p.spawn({ idempotencyKey: `k${i}`, workerId: `w${i}` }));
    clock.advance(20_000);
    for (const pod of pods.slice(0, 3)) await p.terminate(pod.podId);
    expect(p.liveLives().map((l) => l.workerId)).toEqual(['w3', 'w4']);
    expect((await p.list()).map((x) => x.workerId)).toEqual(['w3', 'w4']);
    expect(p.running().map((x) => x.workerId)).toEqual(['w3', 'w4']);
    expect(p.lives()).toHaveLength(5);
    expect(p.lives().filter((l) => l.terminatedAt !== null)).toHaveLength(3);
    // a spawn with a terminated pod's key makes a new pod; a live one's key finds it
    expect((await p.spawn({ idempotencyKey: 'k0', workerId: 'w0' })).existing).toBeUndefined();
    expect((await p.spawn({ idempotencyKey: 'k4', workerId: 'w4' })).existing).toBe(true);
  });
});
