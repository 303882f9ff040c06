import { z } from 'zod';
import { defineEvent } from '../../events/define';
import { EventRegistry } from '../../events/registry';

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

export function testRegistry(): EventRegistry {
  return new EventRegistry([Counted, Labelled]);
}

export const counted = (n: number, eventId?: string) => ({ type: 'Counted', data: { n }, eventId });
