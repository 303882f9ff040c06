import { TEST_DATABASE_URL } from '../helpers/backends';
import { killRig } from '../helpers/kill-rig';

const KILLS = Number(process.env.KILL_TEST_KILLS ?? 40);

// The whole service, killed with SIGKILL at random points while it parks and starts pods.
(TEST_DATABASE_URL ? describe : describe.skip)('SIGKILL while parking and unparking', () => {
  const rig = killRig('park_kill', { PARKED_MAX: '5', PARKED_MAX_AGE_SEC: '8' });

  const rows = async (statuses: string[]) =>
    (await rig.sql`select worker_id, pod_id from workers where status = any(${statuses}) order by worker_id`).map(
      (r) => ({ worker: r.worker_id as string, pod: r.pod_id as string | null }),
    );
  const podsIn = (statuses: string[]) =>
    [...rig.api.pods.values()]
      .filter((p) => statuses.includes(p.status))
      .map((p) => p.id)
      .sort();
  const RUNNING = ['PROVISIONING', 'STARTING', 'RUNNING'];

  test(`${KILLS} kills at random points while pods are parked and started: no parked pod forgotten, none parked and running, one pod per worker`, async () => {
    const { sql, api, seed } = rig;
    const kills = await rig.killRuns(KILLS, 400, async (rand) => {
      // bursts and quiets: idle workers are parked, the next burst starts them (some starts refused)
      const want = rand() < 0.4 ? 0 : Math.floor(rand() * 9);
      await sql`delete from tasks`;
      if (want > 0) await sql`insert into tasks(status) select 'queued' from generate_series(1, ${want}::int)`;
      if (rand() < 0.3) api.refuseStarts('*', 1);
    });
    expect(kills).toBe(KILLS);
    const parkedEver = await sql`select count(*)::int as n from events where event_type = 'WorkerParked'`;
    const unparkedEver = await sql`select count(*)::int as n from events where event_type = 'WorkerUnparked'`;
    // the kills landed while parking and unparking went on
    expect(parkedEver[0].n).toBeGreaterThan(0);
    expect(unparkedEver[0].n).toBeGreaterThan(0);

    // a last, clean run: it recovers, reconciles, and settles
    await sql`delete from tasks`;
    await sql`insert into tasks(status) select 'queued' from generate_series(1, 3)`;
    const { code, stderr } = await rig.lastRun(async () => {
      const live = await rows(['spawning', 'active', 'terminating']);
      const parked = await rows(['parked']);
      return (
        (await rig.reactorBehind()) === 0 &&
        live.length === 3 &&
        live.every((x) => x.pod) &&
        podsIn(RUNNING).length === 3 &&
        JSON.stringify(parked.map((p) => p.pod).sort()) === JSON.stringify(podsIn(['EXITED']))
      );
    }, 40_000);
    expect({ code, stderr: code === 0 ? '' : stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });

    const live = await rows(['spawning', 'active', 'terminating']);
    const parked = await rows(['parked']);
    // pods holding GPUs are exactly the live workers' pods
    expect({ seed, live: live.map((w) => w.pod).sort() }).toEqual({ seed, live: podsIn(RUNNING) });
    // stopped pods are exactly the parked workers' pods: none forgotten, none parked and running
    expect(parked.map((w) => w.pod).sort()).toEqual(podsIn(['EXITED']));
    expect(parked.length).toBeLessThanOrEqual(5);
    // one pod per worker: no pod name (the worker's key) was ever created twice
    const names = rig.createdNames();
    expect(new Set(names).size).toBe(names.length);
    // and never more GPUs held at once than MAX_ACTIVE_GPUS
    expect(api.peakRunning).toBeLessThanOrEqual(12);
    expect(stderr).not.toContain('rp-test-key');
  }, 400_000);
});
