import { z } from 'zod';
import { defineEvent } from '../events/define';
import { EventRegistry } from '../events/registry';
import type { EventStore } from '../src/store/event-store';

/** The one event type the benchmark writes: small, like a controller's per-cycle sample. */
export const QueueSampled = defineEvent({
  type: 'QueueSampled',
  schemaVersion: 1,
  schema: z.object({
    cycle: z.number().int().nonnegative(),
    queued: z.number().int().nonnegative(),
    active: z.number().int().nonnegative(),
    total: z.number().int().nonnegative(),
    source: z.string().min(1),
  }),
});

export type QueueSample = z.infer<typeof QueueSampled.schema>;

/** A store that holds only bench events. */
export type BenchStore = EventStore<typeof QueueSampled>;

export function benchRegistry(): EventRegistry<typeof QueueSampled> {
  return new EventRegistry([QueueSampled]);
}

/** The data of the n-th sample: both sides of every workload write exactly this. */
export function sample(n: number): QueueSample {
  return { cycle: n, queued: n % 97, active: n % 13, total: 16, source: 'bench' };
}
