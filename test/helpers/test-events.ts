import { z } from 'zod';
import type { EventOf } from '../../events/define';
import { defineEvent } from '../../events/define';
import { EventRegistry } from '../../events/registry';
import type { EventStore, StoredEvent } from '../../src/store/event-store';

/** Event types used by the store's contract tests only. */
export const Counted = defineEvent({
  type: 'Counted',
  schemaVersion: 1,
  schema: z.object({ n: z.number().int() }),
});

/** Version 2 renamed `name` to `label`; stored v1 rows are upcast on read. */
export const Labelled = defineEvent({
  type: 'Labelled',
  schemaVersion: 2,
  schema: z.object({ label: z.string().min(1) }),
  upcast: { 1: (d) => ({ label: (d as { name: string }).name }) },
});

/** Free-form keys (a record), as some app events have: not in testRegistry(), a test adds it when it needs it. */
export const Tagged = defineEvent({
  type: 'Tagged',
  schemaVersion: 1,
  schema: z.object({ tags: z.record(z.string(), z.number()) }),
});

export function testRegistry() {
  return EventRegistry.empty().with(Counted).with(Labelled);
}

/** A store of the test events only; its reads are `TestEvent`s. */
export type TestStore = EventStore<typeof Counted | typeof Labelled>;
export type TestEvent = StoredEvent<EventOf<typeof Counted | typeof Labelled>>;

export const counted = (n: number, eventId?: string) => ({ type: 'Counted' as const, data: { n }, eventId });

/** The `n` of a Counted event (an error for any other type, so an assertion on it fails). */
export function nOf(e: TestEvent): number {
  if (e.type !== 'Counted') throw new Error(`expected a Counted event, got ${e.type}`);
  return e.data.n;
}

/** The `label` of a Labelled event (an error for any other type). */
export function labelOf(e: TestEvent): string {
  if (e.type !== 'Labelled') throw new Error(`expected a Labelled event, got ${e.type}`);
  return e.data.label;
}
