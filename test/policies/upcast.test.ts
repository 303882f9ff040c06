import { randomUUID } from 'node:crypto';
import { appRegistry } from '../../events/index';
import type { CliIo } from '../../src/cli/context';
import { runExplain } from '../../src/cli/explain';
import { decisionLines } from '../../src/cli/status';
import { rebuildProjections } from '../../src/projections/rebuild';
import type { EventStore } from '../../src/store/event-store';
import { pgliteBackend, type TestBackend } from '../helpers/backends';
import { Capture } from '../helpers/harness';

const AT = '2026-11-27T18:25:42.000Z';

/** ScalingDecided as schema version 1 stored it: the operators' three terms and one block of settings. */
const v1Decision = {
  cycle: 52,
  at: AT,
  queued: 51,
  active: 0,
  total: 51,
  current: { active: 0, spawning: 0, total: 0 },
  busy: 0,
  idle: 0,
  terms: { minActive: 0, byTasks: 26, busyPlusIdle: 0 },
  desiredBeforeCaps: 26,
  requested: 10,
  limits: [
    { name: 'MAX_WORKERS', value: 10, from: 26, to: 10 },
    { name: 'MAX_ACTIVE_GPUS', value: 8, from: 10, to: 4, detail: '0 GPUs live + 4 x 2 = 8 GPUs' },
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
    MAX_ACTIVE_GPUS: 8,
    MACHINES_TO_KEEP_IDLE: 0,
    GPU_IDLE_TIMEOUT_SEC: 300,
    SPAWNING_TIMEOUT_SEC: 600,
  },
  gpusPerWorker: 2,
};
const v1Observed = {
  cycle: 52,
  at: AT,
  source: 'http',
  queued: 51,
  active: 0,
  total: 51,
  responseMs: 40,
  workers: null,
};

/** Rows as an older build wrote them: inserted as they are (the store only ever appends). */
async function insertV1(store: EventStore): Promise<void> {
  const cid = randomUUID();
  for (const [version, type, data] of [
    [1, 'TaskCountObserved', v1Observed],
    [2, 'ScalingDecided', v1Decision],
  ] as const) {
    await store.db.query(
      `insert into events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
       values ('controller', $1, $2, $3, 1, $4::jsonb, $5::jsonb)`,
      [version, randomUUID(), type, JSON.stringify(data), JSON.stringify({ cycle: 52, correlationId: cid })],
    );
  }
}

describe('a ScalingDecided of schema version 1 (before policies were plug-ins)', () => {
  let backend: TestBackend;
  let store: EventStore;
  beforeAll(async () => {
    backend = pgliteBackend();
    store = await backend.open(appRegistry);
    await insertV1(store);
  });
  afterAll(async () => {
    await store.close();
    await backend.teardown();
  });

  test('upcasts to the operators policy with its settings, terms and formulas; the caps keep theirs', async () => {
    const [e] = (await store.readStream('controller')).filter((x) => x.type === 'ScalingDecided');
    expect(e.data).toMatchObject({
      policy: {
        name: 'operators',
        settings: { TASKS_PER_GPU: 1, MIN_ACTIVE_GPUS: 0, MACHINES_TO_KEEP_IDLE: 0 },
        terms: [
          { name: 'minActive', value: 0, formula: 'ceil(MIN_ACTIVE_GPUS=0 / 2 GPUs)' },
          { name: 'byTasks', value: 26, formula: 'ceil(51 / (TASKS_PER_GPU=1 x 2 GPUs))' },
          { name: 'busyPlusIdle', value: 0, formula: 'busy 0 + MACHINES_TO_KEEP_IDLE=0' },
        ],
        combine: 'max(minActive, byTasks, busyPlusIdle)',
      },
      settings: {
        MAX_WORKERS: 10,
        MAX_ACTIVE_GPUS: 8,
        MAX_HOURLY_COST_USD: null,
        GPU_IDLE_TIMEOUT_SEC: 300,
        SPAWNING_TIMEOUT_SEC: 600,
        WORKER_MAX_LIFETIME_SEC: null,
      },
    });
  });

  test('gpu-scaler explain reads it and renders its math', async () => {
    const stdout = new Capture();
    const io: CliIo = { stdout, stderr: new Capture(), stdin: process.stdin, env: {}, isTTY: false };
    expect(await runExplain(store, io, { cycle: '52', window: '2m', utc: true })).toBe(0);
    expect(stdout.text).toContain('SCALING DECISION: Current=0, Desired=10, Final=4 (MAX_ACTIVE_GPUS=8)');
    expect(stdout.text).toContain(
      'The operators policy computed desired = max(ceil(MIN_ACTIVE_GPUS=0 / 2 GPUs) = 0, ceil(51 / (TASKS_PER_GPU=1 x 2 GPUs)) = 26, busy 0 + MACHINES_TO_KEEP_IDLE=0 = 0) = 26 workers of 2 GPUs.',
    );
  });

  test('a projection rebuild (replay) folds it: policy, terms by name, settings; status renders it', async () => {
    await rebuildProjections(store);
    const [row] = await store.db.query<Record<string, unknown>>('select * from scaling_decisions where cycle = 52');
    expect(row).toMatchObject({
      desired: 4,
      desired_before_caps: 26,
      terms: { minActive: 0, byTasks: 26, busyPlusIdle: 0 },
      settings: { MAX_WORKERS: 10, MAX_ACTIVE_GPUS: 8 },
      policy: { name: 'operators', combine: 'max(minActive, byTasks, busyPlusIdle)' },
    });
    expect(decisionLines(row, new Date(AT), true)).toContainEqual(
      '  policy    operators: max(ceil(MIN_ACTIVE_GPUS=0 / 2 GPUs) = 0, ceil(51 / (TASKS_PER_GPU=1 x 2 GPUs)) = 26, busy 0 + MACHINES_TO_KEEP_IDLE=0 = 0) = 26',
    );
  });
});
