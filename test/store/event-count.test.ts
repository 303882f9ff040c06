import type { AppNewEvent } from '../../events/index';
import { appRegistry } from '../../events/index';
import { countAllEvents, EVENT_COUNT_CHECKPOINT } from '../../src/store/event-count';
import type { EventStore } from '../../src/store/event-store';
import { openStore } from '../../src/store/index';

/** status's event count: kept at a checkpoint, then only the events after it are counted. */

const anomaly = (i: number): AppNewEvent => ({
  type: 'AnomalyDetected',
  data: { cycle: i, at: '2026-11-27T18:00:00Z', kind: 'task_count_spike', message: `#${i}`, figures: {}, causes: [] },
});

describe('the event count', () => {
  let store: EventStore;
  beforeAll(async () => {
    store = await openStore({ target: 'memory://', registry: appRegistry, listen: false });
  });
  afterAll(async () => {
    await store?.close();
  });

  const stored = async () =>
    (
      await store.db.query<{ global_position: number; events: number | null }>(
        'select global_position, events from projection_checkpoints where name = $1',
        [EVENT_COUNT_CHECKPOINT],
      )
    ).map((r) => ({ position: Number(r.global_position), events: r.events === null ? null : Number(r.events) }));

  test('counts every event, and keeps the count at the last one', async () => {
    expect(await countAllEvents(store.db)).toBe(0);
    expect(await stored()).toEqual([]);
    const a = await store.append('controller', [1, 2, 3].map(anomaly));
    expect(await countAllEvents(store.db)).toBe(3);
    expect(await stored()).toEqual([{ position: a.globalPositions[2], events: 3 }]);
    const b = await store.append('controller', [4, 5].map(anomaly));
    await store.append('health', [anomaly(6)]);
    expect(await countAllEvents(store.db)).toBe(6);
    expect(await countAllEvents(store.db)).toBe(6);
    expect((await stored())[0].events).toBe(6);
    expect((await stored())[0].position).toBeGreaterThan(b.globalPositions[1]);
  });

  test('a checkpoint reset to the start (the checkpoints reset after a restore) counts everything again', async () => {
    await store.db.exec(
      `update projection_checkpoints set tx_id = '0', global_position = 0 where name = '${EVENT_COUNT_CHECKPOINT}'`,
    );
    expect(await countAllEvents(store.db)).toBe(6);
    await store.db.exec(`delete from projection_checkpoints where name = '${EVENT_COUNT_CHECKPOINT}'`);
    expect(await countAllEvents(store.db)).toBe(6);
    expect((await stored())[0].events).toBe(6);
  });

  test('a checkpoint past the last event is not trusted', async () => {
    await store.db.exec(
      `update projection_checkpoints set global_position = 1000000, events = 999 where name = '${EVENT_COUNT_CHECKPOINT}'`,
    );
    expect(await countAllEvents(store.db)).toBe(6);
  });
});
