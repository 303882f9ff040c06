import { appRegistry } from '../../events/index';
import { explain } from '../../src/explain/explain';
import type { StoredEvent } from '../../src/store/event-store';

const AT = '2026-11-27T18:25:42.000Z';

/** ScalingDecided as version 1 stored it, before GPUs, prices and MAX_HOURLY_COST_USD were recorded. */
const v1Decision = {
  cycle: 52,
  at: AT,
  queued: 51,
  active: 0,
  total: 51,
  current: { active: 0, spawning: 0, total: 0 },
  busy: 0,
  idle: 0,
  terms: { minActive: 0, byTasks: 51, busyPlusIdle: 0 },
  desiredBeforeCaps: 51,
  requested: 10,
  limits: [
    { name: 'MAX_WORKERS', value: 10, from: 51, to: 10 },
    { name: 'MAX_ACTIVE_GPUS', value: 4, from: 10, to: 4 },
  ],
  desired: 4,
  decision: 'SCALE_UP',
  delta: 4,
  terminate: [],
  timedOut: [],
  reasons: ['desired 4 > current 0: spawn 4'],
  settings: {
    policy: 'default',
    TASKS_PER_GPU: 1,
    MIN_ACTIVE_GPUS: 0,
    MAX_WORKERS: 10,
    MAX_ACTIVE_GPUS: 4,
    MACHINES_TO_KEEP_IDLE: 0,
    GPU_IDLE_TIMEOUT_SEC: 300,
    SPAWNING_TIMEOUT_SEC: 600,
  },
};
const v1Spawned = { workerId: 'c52-1-abc', at: AT, podId: 'sim-1', ordinal: 1, of: 4, recovered: false };

let pos = 0;
const stored = (type: string, data: unknown, cycle: number, causationId?: string): StoredEvent => {
  pos += 1;
  return {
    globalPosition: pos,
    streamId: 'test',
    streamVersion: pos,
    eventId: `00000000-0000-4000-8000-${String(pos).padStart(12, '0')}`,
    ...appRegistry.read(pos, type, 1, data), // type and data, upcast and validated as the store reads them
    schemaVersion: 1,
    metadata: { cycle, ...(causationId ? { causationId } : {}) },
    txId: '1',
    recordedAt: new Date(AT),
  };
};

describe('explain in GPUs and money', () => {
  test('a v1 ScalingDecided and WorkerSpawned still parse (defaults) and explain as before', () => {
    const d = stored('ScalingDecided', v1Decision, 52);
    expect(d.data).toMatchObject({ gpusPerWorker: 1, currentGpus: null, burnUsdPerHour: null, quoteUsdPerHour: null });
    if (d.type !== 'ScalingDecided') throw new Error(`expected a ScalingDecided, got ${d.type}`);
    expect(d.data.settings.MAX_HOURLY_COST_USD).toBeNull();
    const s = stored('WorkerSpawned', v1Spawned, 52, d.eventId);
    expect(s.data).toMatchObject({ gpuCount: null, hourlyCostUsd: null });
    const x = explain([d, s], { focusCycle: 52 });
    expect(x.timeline.map((l) => l.text)).toEqual([
      'SCALING DECISION: Current=0, Desired=10, Final=4 (MAX_ACTIVE_GPUS=4)',
      '🚀 SCALING UP: Creating 4 new workers (desired 51 capped to 4 by MAX_WORKERS=10, then MAX_ACTIVE_GPUS=4)',
      '✅ Worker 1/4 spawned (worker c52-1-abc, pod sim-1)',
    ]);
    expect(x.conclusion).toContain(
      'The operators policy computed desired = max(MIN_ACTIVE_GPUS=0, ceil(51 / TASKS_PER_GPU=1) = 51, busy 0 + MACHINES_TO_KEEP_IDLE=0 = 0) = 51.',
    );
    expect(x.conclusion).toContain('MAX_WORKERS=10 cut it from 51 to 10, then MAX_ACTIVE_GPUS=4 cut it from 10 to 4');
  });

  test('2-GPU workers under a GPU budget and a cost cap: the math in GPUs, workers and USD/h', () => {
    const data = {
      ...v1Decision,
      cycle: 60,
      requested: 10,
      limits: [
        { name: 'MAX_WORKERS', value: 10, from: 26, to: 10 },
        { name: 'MAX_ACTIVE_GPUS', value: 8, from: 10, to: 4, detail: '0 GPUs live + 4 x 2 = 8 GPUs' },
        { name: 'MAX_HOURLY_COST_USD', value: 2.5, from: 4, to: 3, detail: '3 x 0.69 = 2.07 USD/h' },
      ],
      terms: { minActive: 0, byTasks: 26, busyPlusIdle: 0 },
      desiredBeforeCaps: 26,
      desired: 3,
      delta: 3,
      settings: { ...v1Decision.settings, MAX_ACTIVE_GPUS: 8, MAX_HOURLY_COST_USD: 2.5 },
      gpusPerWorker: 2,
      currentGpus: 0,
      burnUsdPerHour: 0,
      quoteUsdPerHour: 0.69,
    };
    const d = stored('ScalingDecided', data, 60);
    const s = stored('WorkerSpawned', { ...v1Spawned, gpuCount: 2, hourlyCostUsd: 0.69 }, 60, d.eventId);
    const x = explain([d, s], { focusCycle: 60 });
    expect(x.timeline.map((l) => l.text)).toEqual([
      'SCALING DECISION: Current=0, Desired=10, Final=3 (MAX_ACTIVE_GPUS=8, MAX_HOURLY_COST_USD=2.50) [0 GPUs (2 GPUs per new worker), burning 0.00 USD/h]',
      '🚀 SCALING UP: Creating 3 new workers (desired 26 capped to 3 by MAX_WORKERS=10, then MAX_ACTIVE_GPUS=8, then MAX_HOURLY_COST_USD=2.50)',
      '✅ Worker 1/4 spawned (worker c52-1-abc, pod sim-1, 2 GPUs, 0.69 USD/h)',
    ]);
    expect(x.conclusion).toContain('ceil(51 / (TASKS_PER_GPU=1 x 2 GPUs)) = 26');
    expect(x.conclusion).toContain(
      'MAX_ACTIVE_GPUS=8 cut it from 10 to 4 (0 GPUs live + 4 x 2 = 8 GPUs), then MAX_HOURLY_COST_USD=2.50 cut it from 4 to 3 (3 x 0.69 = 2.07 USD/h), so the final desired count was 3 workers.',
    );
    expect(x.conclusion).toContain('The fleet held 0 GPUs (2 GPUs per new worker), burning 0.00 USD/h.');
  });
});
