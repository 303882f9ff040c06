import { type AppEventType, isEvent } from '../../events/index';
import { formatAge } from '../../src/cli/output';
import { decisionLines } from '../../src/cli/status';
import { describeOnStores, type RecordedEvent, runMain, useTimelineStore, visibleToReaders } from './run-cli';

const JUMP_AT = '2026-11-27T18:25:42.000Z';
/** One poll interval after the timeline's last cycle. */
const END = '2026-11-27T18:41:12.000Z';

/** The fields these assertions read of any event (a widening of its typed data, not a cast). */
type Data = { readonly [k: string]: unknown; cycle?: number | null; at?: string; workerId?: string };
const data = (e: RecordedEvent): Data => e.data;

let dir: string;
let recorded: RecordedEvent[];
const env = () => ({ DATABASE_URL: `pglite://${dir}` });
const last = <T extends AppEventType>(type: T) => {
  const e = recorded.filter(isEvent(type)).pop();
  if (!e) throw new Error(`the timeline has no ${type}`);
  return e;
};
const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ago = (at: unknown, now = END) => formatAge(Date.parse(now) - Date.parse(String(at)));

/** Live workers folded from the worker events themselves (not the projection): id -> [status, since]. */
function liveWorkers(): Map<string, { status: string; since: string }> {
  const m = new Map<string, { status: string; since: string }>();
  for (const e of recorded) {
    const d = data(e);
    if (!d.workerId) continue;
    const at = String(d.at);
    if (e.type === 'WorkerSpawnRequested') m.set(d.workerId, { status: 'spawning', since: at });
    if (e.type === 'WorkerActivated' && m.get(d.workerId)?.status === 'spawning') {
      m.set(d.workerId, { status: 'active', since: at });
    }
    if (e.type === 'WorkerTerminationRequested') m.set(d.workerId, { status: 'terminating', since: at });
    // parked: no longer live; started again from parked: spawning anew
    if (e.type === 'WorkerParked') m.delete(d.workerId);
    if (e.type === 'WorkerUnparked') m.set(d.workerId, { status: 'spawning', since: at });
    if (e.type === 'WorkerTerminated' || e.type === 'WorkerSpawnFailed') m.delete(d.workerId);
  }
  return m;
}

useTimelineStore((d, r) => {
  dir = d;
  recorded = r;
});

describe('gpu-scaler status (main, embedded store)', () => {
  test('the fleet, the last decision with its math, the last health summary and the last hour of anomalies', async () => {
    const r = await runMain(['status', '--now', END, '--utc'], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout;
    const lastEvent = recorded[recorded.length - 1];
    expect(out).toContain('As of: 2026-11-27 18:41:12Z (--now)');
    expect(out).toContain(
      `Events: ${recorded.length}, the last #${lastEvent.globalPosition} ${lastEvent.type} at ` +
        `2026-11-27 ${String(data(lastEvent).at).slice(11, 19)}Z (${ago(data(lastEvent).at)} ago)`,
    );

    const live = [...liveWorkers()];
    const active = live.filter(([, w]) => w.status === 'active');
    expect(active.length).toBeGreaterThan(0);
    const oldest = active.map(([, w]) => w.since).sort()[0];
    expect(out).toContain(
      `Fleet: active ${active.length} (${active.length > 1 ? 'oldest ' : ''}${ago(oldest)}); ended: terminated `,
    );
    for (const [id, w] of live) {
      expect(out).toMatch(new RegExp(`\\n  ${id}\\s+\\S+\\s+${w.status}\\s+${ago(w.since)}\\s`));
    }

    const d = data(last('ScalingDecided'));
    expect(out).toContain(
      `Last decision: cycle ${d.cycle} at 2026-11-27 ${String(d.at).slice(11, 19)}Z (${ago(d.at)} ago)`,
    );
    expect(out).toContain(`  tasks     queued ${d.queued} + active ${d.active} = total ${d.total}`);
    expect(out).toContain(`  decision  ${d.decision}`);

    const h = data(last('HealthSummaryRecorded'));
    expect(out).toContain(`Health summary: cycle ${h.cycle} at 2026-11-27 ${String(h.at).slice(11, 19)}Z`);
    expect(out).toContain(`  database logging  ${h.dbLoggingHealthy ? 'healthy' : 'FAILING'}`);
    const c = data(last('HealthChecked'));
    expect(out).toContain(
      `  last check        cycle ${c.cycle} at 2026-11-27 ${String(c.at).slice(11, 19)}Z: ${c.status}`,
    );

    const inHour = recorded.filter(
      (e) => e.type === 'AnomalyDetected' && Date.parse(END) - Date.parse(String(data(e).at)) < 3_600_000,
    );
    expect(inHour.length).toBeGreaterThan(0);
    expect(out).toContain(`Anomalies in the last 1h (since 2026-11-27 17:41:12Z): ${inHour.length}\n`);
    for (const a of inHour) {
      expect(out).toMatch(
        new RegExp(`\\s${data(a).cycle}  ${data(a).kind}\\s+${reEscape(String(data(a).message))}\\n`),
      );
    }
  });

  test('--json, with a shorter --window', async () => {
    const r = await runMain(['status', '--json', '--now', END, '--window', '16m'], env());
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ now: END, nowFrom: '--now', events: { count: recorded.length } });
    const live = liveWorkers();
    expect(s.workers.map((w: { workerId: string }) => w.workerId).sort()).toEqual([...live.keys()].sort());
    const d = data(last('ScalingDecided'));
    expect(s.lastDecision).toMatchObject({ cycle: d.cycle, decided_at: d.at, decision: d.decision });
    // 16 minutes before 18:41:12: the two anomalies of the spurious jump and the parked pods' burst, not the earlier burst
    const expected = recorded
      .filter((e) => e.type === 'AnomalyDetected' && Date.parse(END) - Date.parse(String(data(e).at)) < 960_000)
      .map((e) => data(e).kind);
    expect(expected).toEqual(['rapid_scale_up', 'task_count_from_nowhere', 'rapid_scale_up']);
    expect(s.anomalies.items.map((a: { kind: string }) => a.kind)).toEqual(expected);
    expect(s.anomalies.items[0].detected_at).toBe(JUMP_AT);
  });

  test('usage errors exit 2', async () => {
    const badNow = await runMain(['status', '--now', 'teatime'], env());
    expect(badNow.code).toBe(2);
    expect(badNow.stderr).toContain('--now "teatime" is not a time');
    const badWindow = await runMain(['status', '--window', '5'], env());
    expect(badWindow.code).toBe(2);
    expect(badWindow.stderr).toContain('--window "5" is not a duration');
    const unknown = await runMain(['status', '--all'], env());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--all'");
    const help = await runMain(['status', '--help'], env());
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--window <duration>');
    expect(help.stdout).toContain('--now <time>'); // --now is shown in every command that reads times
  });
});

describeOnStores(
  'gpu-scaler status',
  () => dir,
  (ctx) => {
    test("the math of the spurious jump's decision", async () => {
      const [row] = await ctx().store.db.query('select * from scaling_decisions where decided_at = $1::timestamptz', [
        JUMP_AT,
      ]);
      const jump = recorded.find((e) => e.type === 'ScalingDecided' && data(e).at === JUMP_AT) as RecordedEvent;
      expect(decisionLines(row, new Date('2026-11-27T18:26:00Z'), true)).toEqual([
        `Last decision: cycle ${data(jump).cycle} at 2026-11-27 18:25:42Z (18s ago)`,
        '  tasks     queued 51 + active 0 = total 51',
        '  current   active 0 + spawning 0 = 0 workers (busy 0, idle 0)',
        '  policy    operators: max(MIN_ACTIVE_GPUS=0, ceil(51 / TASKS_PER_GPU=1) = 51, busy 0 + MACHINES_TO_KEEP_IDLE=0 = 0) = 51',
        '  gpus      0 GPUs live, 1 per new worker; burn 0.00 USD/h',
        '  limits    cap MAX_WORKERS=10: 51 -> 10; cap MAX_ACTIVE_GPUS=4: 10 -> 4',
        '  decision  SCALE_UP by 4: desired 4, current 0 (capped by MAX_WORKERS,MAX_ACTIVE_GPUS)',
        '  reasons   desired 4 > current 0: spawn 4',
        '            MAX_WORKERS=10 changed desired from 51 to 10',
        '            MAX_ACTIVE_GPUS=4 changed desired from 10 to 4',
      ]);
    });

    test('brings the projections up to date with events nobody projected yet', async () => {
      const at = '2026-11-27T18:41:42.000Z';
      const decision = last('ScalingDecided');
      await ctx().writer.append('controller', [
        {
          type: 'ScalingDecided',
          data: {
            ...decision.data,
            cycle: 950,
            at,
            queued: 2,
            total: 2,
            desired: 4,
            decision: 'SCALE_UP',
            delta: 1,
            reasons: ['desired 4 > current 3: spawn 1'],
          },
        },
      ]);
      const spawn = await ctx().writer.append('worker-t950-1', [
        {
          type: 'WorkerSpawnRequested',
          data: {
            workerId: 't950-1',
            at,
            cycle: 950,
            decisionEventId: 'test',
            ordinal: 1,
            of: 1,
            idempotencyKey: 't950-1',
            provider: 'simulated',
          },
        },
      ]);
      await visibleToReaders(ctx().store, spawn.globalPositions[0]);
      const r = await ctx().run(['status', '--now', '2026-11-27T18:42:27Z', '--utc']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Last decision: cycle 950 at 2026-11-27 18:41:42Z (45s ago)');
      expect(r.stdout).toContain('  decision  SCALE_UP by 1: desired 4, current 3');
      expect(r.stdout).toMatch(/Fleet: active \d+ \([^)]*\), spawning 1 \(45s\);/);
      // recorded without a GPU count or a price (an event older than those fields): shown as unknown
      expect(r.stdout).toMatch(/\n {2}t950-1\s+-\s+spawning\s+45s\s+45s\s+simulated\s+\?\s+\?\s+\?\n/);

      const j = await ctx().run(['status', '--json', '--now', '2026-11-27T18:42:27Z']);
      const s = JSON.parse(j.stdout);
      expect(s.projectionsApplied).toBe(0); // the text run above already caught up
      expect(s.projectionsBehind).toBe(0);
      expect(s.fleet.spawning).toEqual({ count: 1, oldestSec: 45 });
      expect(s.lastDecision).toMatchObject({ cycle: 950, decision: 'SCALE_UP', delta: 1 });
    });

    test("shows each worker's GPUs, price and spend, and the fleet's burn rate", async () => {
      const at = '2026-11-27T18:40:00.000Z';
      const w = 't960-1';
      const res = await ctx().writer.append(`worker-${w}`, [
        {
          type: 'WorkerSpawnRequested',
          data: {
            workerId: w,
            at,
            cycle: 960,
            decisionEventId: 'test',
            ordinal: 1,
            of: 1,
            idempotencyKey: w,
            provider: 'priced',
            gpus: 2,
          },
        },
        {
          type: 'WorkerSpawned',
          data: {
            workerId: w,
            at,
            podId: 'pod-960',
            ordinal: 1,
            of: 1,
            recovered: false,
            gpuCount: 2,
            hourlyCostUsd: 1.5,
          },
        },
      ]);
      await visibleToReaders(ctx().store, res.globalPositions[1]);
      const r = await ctx().run(['status', '--now', '2026-11-27T20:40:00Z', '--utc']);
      expect(r.code).toBe(0);
      // 2 hours at 1.50 USD/h since the pod was placed
      expect(r.stdout).toMatch(/\n {2}t960-1\s+pod-960\s+spawning\s+2h\s+2h\s+priced\s+2\s+1\.50\s+3\.00\n/);
      expect(r.stdout).toMatch(
        /Burn rate: \d+ GPUs, burning 1\.50 USD\/h \(\d+ workers at an unknown price not counted\)/,
      );
      const j = JSON.parse((await ctx().run(['status', '--json', '--now', '2026-11-27T20:40:00Z'])).stdout);
      expect(j.burn.usdPerHour).toBe(1.5);
      expect(j.workers.find((x: { workerId: string }) => x.workerId === w)).toMatchObject({
        gpus: 2,
        hourlyCostUsd: 1.5,
        spentUsd: 3,
      });
    });

    test('says where each live worker was placed: GPU type and data center (RunPod), node (Kubernetes)', async () => {
      const at = '2026-11-27T18:45:00.000Z';
      const spawn = (w: string, podId: string, provider: string, details: Record<string, unknown>) => [
        {
          type: 'WorkerSpawnRequested' as const,
          data: {
            workerId: w,
            at,
            cycle: 970,
            decisionEventId: 'test',
            ordinal: 1,
            of: 1,
            idempotencyKey: w,
            provider,
          },
        },
        {
          type: 'WorkerSpawned' as const,
          data: {
            workerId: w,
            at,
            podId,
            ordinal: 1,
            of: 1,
            recovered: false,
            gpuCount: 1,
            hourlyCostUsd: 0.44,
            details,
          },
        },
      ];
      await ctx().writer.append(
        'worker-t970-1',
        spawn('t970-1', 'rp-970', 'runpod', {
          status: 'RUNNING',
          gpuTypeId: 'NVIDIA A40',
          dataCenterId: 'EU-RO-1',
          costPerHr: 0.44,
          candidatesPassed: [{ gpuTypeId: 'NVIDIA L4', dataCenterId: 'EU-RO-1', outcome: 'no_stock' }],
        }),
      );
      const res = await ctx().writer.append(
        'worker-t970-2',
        spawn('t970-2', 'k8s-970', 'kubernetes', { phase: 'Pending', node: 'gpu-node-3' }),
      );
      await visibleToReaders(ctx().store, res.globalPositions[1]);
      const r = await ctx().run(['status', '--now', '2026-11-27T18:46:00Z', '--utc']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/\n {2}t970-1\s+rp-970\s+spawning\s.*\s0\.44\s+0\.01\s+NVIDIA A40 in EU-RO-1\n/);
      expect(r.stdout).toMatch(/\n {2}t970-2\s+k8s-970\s+spawning\s.*\s0\.01\s+node gpu-node-3\n/);
      expect(r.stdout).toMatch(/ {2}WORKER\s.*\s+SPENT USD\s+PLACED ON\n/);
      const [row] = await ctx().store.db.query('select gpu_type, data_center, node from workers where worker_id = $1', [
        't970-1',
      ]);
      expect(row).toEqual({ gpu_type: 'NVIDIA A40', data_center: 'EU-RO-1', node: null });
      const j = JSON.parse((await ctx().run(['status', '--json', '--now', '2026-11-27T18:46:00Z'])).stdout);
      expect(j.workers.find((x: { workerId: string }) => x.workerId === 't970-1').placement).toEqual({
        gpuType: 'NVIDIA A40',
        dataCenter: 'EU-RO-1',
        node: null,
      });
    });
  },
);
