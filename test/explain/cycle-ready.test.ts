import { conclude, explain } from '../../src/explain/explain';
import { eventsOfCycle } from '../../src/store/event-queries';
import { pgliteBackend } from '../helpers/backends';
import { harness } from '../helpers/harness';

const backend = pgliteBackend();
beforeAll(() => backend.ready?.(), 120_000);
afterAll(() => backend.teardown());

test('explain --cycle N reads when each worker its decision spawned was up (ready in ...), as explain --at does', async () => {
  const h = await harness(backend, { env: { PARKED_MAX: '2', GPU_IDLE_TIMEOUT_SEC: '30', SIM_UNPARK_SUCCESS: '1' } });
  try {
    // a burst, then quiet: two of its workers are parked
    h.source.set(3);
    for (let i = 0; i < 3; i++) await h.cycle();
    h.source.set(0);
    for (let i = 0; i < 4 && (await h.events('WorkerParked')).length < 2; i++) await h.cycle();
    expect((await h.events('WorkerParked')).length).toBe(2);
    // the next burst: two workers from the parked pool and one new, each up a cycle or two later
    h.source.set(3);
    const burst = await h.cycle();
    for (let i = 0; i < 3; i++) await h.cycle();
    const cycle = burst.cycle;
    const unparked = (await h.events('WorkerUnparked')).filter((e) => e.data.cycle === cycle);
    expect(unparked.length).toBe(2);
    const activated = await h.events('WorkerActivated');
    const found = await eventsOfCycle(h.store, cycle, 2 * 60_000);
    if (!found.events) throw new Error(`no events of cycle ${cycle}`);
    const ex = explain(found.events, { focusCycle: cycle });
    const facts = ex.cycles.find((c) => c.cycle === cycle);
    if (!facts) throw new Error(`explain has no facts of cycle ${cycle}`);
    expect(facts.spawns.length).toBe(3);
    const upAfter = (workerId: string) => {
      const up = activated.filter((a) => a.data.workerId === workerId && a.data.at >= facts.at)[0];
      return up ? (Date.parse(up.data.at) - Date.parse(facts.at)) / 1000 : 'not up';
    };
    expect(facts.spawns.map((s) => s.readySec)).toEqual(facts.spawns.map((s) => upAfter(s.workerId)));
    expect(facts.spawns.every((s) => typeof s.readySec === 'number')).toBe(true);
    // and the conclusion says it, as it does from `explain --at`
    const text = conclude(facts);
    for (const u of unparked) {
      expect(text).toMatch(new RegExp(`pod ${u.data.podId} from the parked pool \\([^)]*\\), ready in \\d+ s`));
    }
    expect(text).toMatch(/pod \S+ new, ready in \d+ s/);
  } finally {
    await h.close();
  }
});
