import type { EventOf } from '../events/define';
import { type AppEvent, type AppNewEvent, appRegistry, type DataOf, isEvent } from '../events/index';
import { EventValidationError } from '../events/registry';
import { workersProjection } from '../projections/workers';
import type { NewEvent } from '../src/store/event-store';
import { type Counted, testRegistry } from './helpers/test-events';

// ts-jest type-checks this file: each `@ts-expect-error` below fails the suite if the line it
// marks ever compiles, i.e. if events stopped being one typed union.

const observed = {
  cycle: 3,
  at: '2026-11-27T18:25:42.000Z',
  source: 'scripted',
  queued: 5,
  active: 1,
  total: 6,
  responseMs: 12,
  workers: null,
};

/** A handler that switches on `type` and reads typed data, no cast. */
function summary(e: AppEvent): string {
  switch (e.type) {
    case 'TaskCountObserved':
      return `${e.data.queued}+${e.data.active}`;
    case 'WorkerSpawned':
      return e.data.podId;
    default:
      return e.type;
  }
}

describe('one typed union of events', () => {
  test('a read event narrows by type: its data is that type’s, upcast and validated', () => {
    const e = appRegistry.read(1, 'TaskCountObserved', 1, observed);
    expect(summary(e)).toBe('5+1');
    if (e.type !== 'TaskCountObserved') throw new Error('narrowing failed');
    const total: number = e.data.total;
    expect(total).toBe(6);
    // @ts-expect-error: TaskCountObserved has no podId
    expect(e.data.podId).toBeUndefined();
  });

  test('an event to append must name a registered type and fit its schema', () => {
    const ok: AppNewEvent = { type: 'TaskCountObserved', data: observed };
    expect(appRegistry.encode(ok.type, ok.data).data).toEqual({ ...observed, pool: 'default' });
    // @ts-expect-error: queued must be a number
    const wrongField: NewEvent = { type: 'TaskCountObserved', data: { ...observed, queued: 'five' } };
    expect(() => appRegistry.encode(wrongField.type, wrongField.data)).toThrow(EventValidationError);
    // @ts-expect-error: not a registered event type
    const unknownType: NewEvent = { type: 'TaskCountGuessed', data: observed };
    expect(() => appRegistry.encode(unknownType.type, unknownType.data)).toThrow(/unknown event type/);
  });

  test('DataOf names one type’s data, and isEvent filters to it', () => {
    const d: DataOf<'TaskCountObserved'> = { ...observed, pool: 'default' };
    const events: AppEvent[] = [
      { type: 'TaskCountObserved', data: d },
      appRegistry.read(2, 'WorkerActivated', 1, { workerId: 'w1', at: observed.at, podId: 'p1' }),
    ];
    const activated = events.filter(isEvent('WorkerActivated'));
    expect(activated.map((e) => e.data.workerId)).toEqual(['w1']);
  });

  test('projections read typed events: the workers fold keys on data.workerId', () => {
    const e = {
      globalPosition: 7,
      eventId: 'e',
      ...appRegistry.read(7, 'WorkerActivated', 1, { workerId: 'w9', at: observed.at, podId: 'p' }),
    };
    expect(workersProjection.keyOf(e)).toBe('w9');
  });

  test('a registry built with .with() types exactly its definitions', () => {
    const registry = testRegistry();
    const e: EventOf<typeof Counted> = { type: 'Counted', data: { n: 2 } };
    expect(registry.read(1, e.type, 1, e.data)).toEqual(e);
    expect(registry.types()).toEqual(['Counted', 'Labelled']);
  });
});
