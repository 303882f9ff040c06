import fs from 'node:fs';
import path from 'node:path';
import { appRegistry } from '../../events/index';
import { ALL_PROJECTIONS } from '../../projections/index';
import { ProjectionRunner } from '../../src/projections/runner';
import type { EventStore, NewEvent } from '../../src/store/event-store';
import { pgliteBackend, postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { forEachBackend } from '../helpers/harness';

/** The documented spend query, read from docs/debugging.md itself so the documented text is what runs. */
function documentedSpendQuery(): string {
  const page = fs.readFileSync(path.join(__dirname, '../../docs/debugging.md'), 'utf8');
  const m = page.match(/```sql\n(-- spend:[\s\S]*?)```/);
  if (!m) throw new Error('docs/debugging.md has no ```sql block starting with "-- spend:"');
  return m[1];
}

async function worker(
  store: EventStore,
  id: string,
  o: { gpus: number | null; price: number | null; spawnedAt: string | null; endedAt: string | null },
) {
  const requested = {
    type: 'WorkerSpawnRequested',
    data: {
      workerId: id,
      at: o.spawnedAt ?? '2026-11-28T09:00:00.000Z',
      cycle: 1,
      decisionEventId: 'test',
      ordinal: 1,
      of: 1,
      idempotencyKey: id,
      provider: 'priced',
      gpus: o.gpus,
    },
  } satisfies NewEvent;
  const rest: NewEvent[] = o.spawnedAt
    ? [
        {
          type: 'WorkerSpawned',
          data: {
            workerId: id,
            at: o.spawnedAt,
            podId: `pod-${id}`,
            ordinal: 1,
            of: 1,
            recovered: false,
            gpuCount: o.gpus,
            hourlyCostUsd: o.price,
          },
        },
      ]
    : [
        {
          type: 'WorkerSpawnFailed',
          data: { workerId: id, at: requested.data.at, ordinal: 1, of: 1, kind: 'error', error: 'boom' },
        },
      ];
  const end: NewEvent[] = o.endedAt
    ? [
        {
          type: 'WorkerTerminated',
          data: { workerId: id, at: o.endedAt, podId: `pod-${id}`, reason: 'idle', detail: 'idle', failed: false },
        },
      ]
    : [];
  await store.append(`worker-${id}`, [requested, ...rest, ...end]);
}

forEachBackend(
  'the documented spend query',
  { pglite: pgliteBackend, postgres: () => postgresBackend(), hasServer: !!TEST_DATABASE_URL },
  (backend) => {
    test('gives GPU-hours and USD per day on a scripted fleet', async () => {
      const store = await backend().open(appRegistry);
      try {
        // 2 GPUs at 1.00 USD/h from 22:00 to 02:00: 2 h on each day
        await worker(store, 'a', {
          gpus: 2,
          price: 1,
          spawnedAt: '2026-11-27T22:00:00.000Z',
          endedAt: '2026-11-28T02:00:00.000Z',
        });
        // 1 GPU at an unknown price, 3 h: GPU-hours only
        await worker(store, 'b', {
          gpus: 1,
          price: null,
          spawnedAt: '2026-11-28T10:00:00.000Z',
          endedAt: '2026-11-28T13:00:00.000Z',
        });
        // recorded before GPU counts were (counted as 1 GPU), 0.50 USD/h for 30 min
        await worker(store, 'c', {
          gpus: null,
          price: 0.5,
          spawnedAt: '2026-11-28T14:00:00.000Z',
          endedAt: '2026-11-28T14:30:00.000Z',
        });
        // never placed: nothing billed
        await worker(store, 'd', { gpus: 4, price: 9, spawnedAt: null, endedAt: null });
        await new ProjectionRunner(store, ALL_PROJECTIONS).catchUp();
        const query = documentedSpendQuery().trim().replace(/;$/, '');
        const rows = await store.db.query<{ day: string; gpu_hours: unknown; usd: unknown }>(
          `select day::text as day, gpu_hours, usd from (${query}) q`,
        );
        expect(rows.map((r) => [r.day, Number(r.gpu_hours), r.usd === null ? null : Number(r.usd)])).toEqual([
          ['2026-11-27', 4, 2],
          ['2026-11-28', 7.5, 2.25],
        ]);
      } finally {
        await store.close();
      }
    });
  },
);
