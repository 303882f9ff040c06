import { TEST_DATABASE_URL } from '../helpers/backends';
import { killRig } from '../helpers/kill-rig';

const KILLS = Number(process.env.KILL_TEST_KILLS ?? 50);

// The whole service, killed with SIGKILL at random points while it scales, against a fake RunPod.
(TEST_DATABASE_URL ? describe : describe.skip)('SIGKILL during scale-ups', () => {
  const rig = killRig('kill');

  const live = async () =>
    (
      await rig.sql`select worker_id, pod_id from workers where status in ('spawning', 'active', 'terminating') order by worker_id`
    ).map((r) => ({ worker: r.worker_id as string, pod: r.pod_id as string | null }));
  const pods = () =>
    [...rig.api.pods.values()]
      .filter((p) => p.status !== 'TERMINATED')
      .map((p) => p.id)
      .sort();

  test(`${KILLS} kills at random points: pods at the provider equal the live workers, none spawned twice`, async () => {
    const { sql, seed } = rig;
    const kills = await rig.killRuns(KILLS, 300, async (rand) => {
      // keep the fleet moving: bursts up, drains down
      const want = Math.floor(rand() * 13);
      await sql`delete from tasks`;
      if (want > 0) await sql`insert into tasks(status) select 'queued' from generate_series(1, ${want}::int)`;
    });
    expect(kills).toBe(KILLS);

    // a last, clean run: it recovers, reconciles, and settles
    await sql`delete from tasks`;
    await sql`insert into tasks(status) select 'queued' from generate_series(1, 3)`;
    const { code, stderr } = await rig.lastRun(async () => {
      const w = await live();
      return (await rig.reactorBehind()) === 0 && w.length === 3 && w.every((x) => x.pod) && pods().length === 3;
    }, 30_000);
    expect({ code, stderr: code === 0 ? '' : stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });

    const workers = await live();
    expect({ seed, live: workers.length, pods: pods().length }).toEqual({ seed, live: 3, pods: 3 });
    expect(workers.map((w) => w.pod).sort()).toEqual(pods());
    // no idempotency key (pod name) was ever created twice
    const names = rig.createdNames();
    expect(names.length).toBeGreaterThan(3);
    expect(new Set(names).size).toBe(names.length);
    // and every pod ever created is accounted for by a worker stream or an orphan record
    const known = await sql`select count(*)::int as n from events where event_type in ('WorkerSpawnRequested')`;
    expect(known[0].n).toBeGreaterThanOrEqual(names.length);
    expect(stderr).not.toContain('rp-test-key');
  }, 300_000);
});
