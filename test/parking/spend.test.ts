import fs from 'node:fs';
import path from 'node:path';
import { appRegistry } from '../../events/index';
import { ALL_PROJECTIONS } from '../../projections/index';
import { ProjectionRunner } from '../../src/projections/runner';
import type { NewEvent } from '../../src/store/event-store';
import { pgliteBackend } from '../helpers/backends';

const backend = pgliteBackend();
beforeAll(() => backend.ready?.(), 120_000);
afterAll(() => backend.teardown());

function readmeSpendQuery(): string {
  const readme = fs.readFileSync(path.join(__dirname, '../../docs/debugging.md'), 'utf8');
  const m = readme.match(/```sql\n(-- spend:[\s\S]*?)```/);
  if (!m) throw new Error('docs/debugging.md has no spend query');
  return m[1].trim().replace(/;$/, '');
}

test('the documented spend query bills a parked worker until it was parked, not until now', async () => {
  const store = await backend.open(appRegistry);
  try {
    const at = (h: number) => `2026-11-28T${String(h).padStart(2, '0')}:00:00.000Z`;
    const events: NewEvent[] = [
      {
        type: 'WorkerSpawnRequested',
        data: {
          workerId: 'p',
          at: at(9),
          cycle: 1,
          decisionEventId: 'd',
          ordinal: 1,
          of: 1,
          idempotencyKey: 'p',
          provider: 'runpod',
          gpus: 1,
        },
      },
      {
        type: 'WorkerSpawned',
        data: {
          workerId: 'p',
          at: at(9),
          podId: 'pod-p',
          ordinal: 1,
          of: 1,
          recovered: false,
          gpuCount: 1,
          hourlyCostUsd: 2,
        },
      },
      {
        type: 'WorkerParked',
        data: {
          workerId: 'p',
          at: at(10),
          podId: 'pod-p',
          cycle: 3,
          detail: 'idle',
          parked: 1,
          parkedMax: 5,
          gpuSeconds: 3600,
          parkedHourlyUsd: 0.01,
        },
      },
    ];
    await store.append('worker-p', events);
    await new ProjectionRunner(store, ALL_PROJECTIONS).catchUp();
    const rows = await store.db.query<{ day: string; gpu_hours: unknown; usd: unknown }>(
      `select day::text as day, gpu_hours, usd from (${readmeSpendQuery()}) q`,
    );
    expect(rows.map((r) => [r.day, Number(r.gpu_hours), Number(r.usd)])).toEqual([['2026-11-28', 1, 2]]);
  } finally {
    await store.close();
  }
});
