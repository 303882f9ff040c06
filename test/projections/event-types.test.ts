import { appRegistry } from '../../events/index';
import { ALL_PROJECTIONS } from '../../projections/index';
import { eventTypesOf } from '../../src/projections/rebuild';
import type { StoredEvent } from '../../src/store/event-store';

/** An event of `type` with the fields keyOf looks at; enough to ask whether it concerns a projection. */
function probe(type: string): StoredEvent {
  const event = {
    globalPosition: 1,
    streamId: 's',
    streamVersion: 1,
    eventId: '00000000-0000-4000-8000-000000000001',
    type,
    schemaVersion: 1,
    data: { workerId: 'w1', cycle: 7, at: '2026-11-27T18:25:42.000Z' },
    metadata: {},
    txId: '1',
    recordedAt: new Date(0),
  };
  // Not a valid event of most types (only the fields keyOf reads): the one place a test builds
  // an event the registry would refuse, so it is typed by hand.
  return event as StoredEvent;
}

// A rebuild reads only the projections' eventTypes: a type keyOf folds but eventTypes omits would be
// silently missing from every rebuilt table.
describe('projection event types', () => {
  const registered = appRegistry.types();

  test.each(ALL_PROJECTIONS.map((p) => [p.name, p] as const))(
    '%s: keyOf gives a key for exactly the registered types it lists',
    (_name, p) => {
      const folds = registered.filter((t) => p.keyOf(probe(t)) !== null).sort();
      expect([...p.eventTypes].sort()).toEqual(folds);
      expect(folds.length).toBeGreaterThan(0);
    },
  );

  test('the union read by a rebuild leaves out the types no projection folds', () => {
    const union = eventTypesOf(ALL_PROJECTIONS);
    expect(union).toEqual([...union].sort());
    for (const t of union) expect(registered).toContain(t);
    expect(union).not.toContain('TaskCountObserved');
    expect(union).not.toContain('HealthChecked');
    expect(union).toContain('ScalingDecided');
    expect(union).toContain('WorkerTerminated');
  });
});
