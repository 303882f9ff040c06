import type { z } from 'zod';
import type { EventDefinition } from '../../events/define';
import type { StoredEvent } from '../store/event-store';

/**
 * The typed data of an event when it is of `def`'s type, else null. The store has validated it
 * already; parsing it again with the same schema gives its type without a cast.
 */
export function dataOf<T extends string, S extends z.ZodType>(
  def: EventDefinition<T, S>,
  e: Pick<StoredEvent, 'type' | 'data'>,
): z.infer<S> | null {
  if (e.type !== def.type) return null;
  const res = def.schema.safeParse(e.data);
  return res.success ? res.data : null;
}
