import { appRegistry, Streams } from '../../events/index';
import { ALL_PROJECTIONS } from '../../projections/index';
import { ProjectionRunner } from '../../src/projections/runner';
import { MemoryEventStore } from '../../src/store/memory';
import { memoryBackend } from '../helpers/backends';
import { controlReadsContract } from './reads-contract';

describe('control reads contract: memory', () => {
  controlReadsContract(memoryBackend);
});

// The fleet is read several times a cycle: with a month of history the workers table holds
// thousands of ended workers, and a read that walked them all made each cycle slower by the day.
test('the live workers are found by their status, without walking every row the workers table ever had', async () => {
  const store = new MemoryEventStore(appRegistry);
  const at = (sec: number) => new Date(Date.UTC(2026, 10, 27, 18, 0, sec)).toISOString();
  const life = (id: string, end: boolean) => [
    {
      type: 'WorkerSpawnRequested' as const,
      data: {
        workerId: id,
        at: at(1),
        cycle: 1,
        decisionEventId: 'd',
        ordinal: 1,
        of: 1,
        idempotencyKey: id,
        provider: 'sim',
        gpus: 1,
      },
    },
    ...(end
      ? [
          {
            type: 'WorkerTerminated' as const,
            data: { workerId: id, at: at(2), podId: null, reason: 'idle' as const, detail: 'idle', failed: false },
          },
        ]
      : []),
  ];
  for (let i = 0; i < 200; i++) await store.append(Streams.worker(`old-${i}`), life(`old-${i}`, true));
  await store.append(Streams.worker('live'), life('live', false));
  await new ProjectionRunner(
    store,
    ALL_PROJECTIONS.filter((p) => p.name === 'workers'),
  ).catchUp();
  const rows = store.mem.table('workers');
  expect(rows.size).toBe(201);
  const walked = () => {
    throw new Error('walked every row of the workers table');
  };
  Object.assign(rows, { values: walked, entries: walked, keys: walked, forEach: walked, [Symbol.iterator]: walked });

  const live = await store.reads.workersByStatusOrId(['spawning', 'active', 'terminating'], ['old-7']);
  expect(live.map((r) => [r.worker_id, r.status]).sort()).toEqual([
    ['live', 'spawning'],
    ['old-7', 'terminated'],
  ]);
});
