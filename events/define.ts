import type { z } from 'zod';

/**
 * One event type: its zod schema at the current `schemaVersion`, and the upcasters that turn
 * a stored older version into the next one. Old events are upcast when read, never rewritten.
 */
export interface EventDefinition<T extends string = string, S extends z.ZodType = z.ZodType> {
  type: T;
  schemaVersion: number;
  schema: S;
  /** upcast[v] turns data stored at version v into version v + 1. */
  upcast?: Record<number, (data: unknown) => unknown>;
}

export function defineEvent<T extends string, S extends z.ZodType>(def: EventDefinition<T, S>): EventDefinition<T, S> {
  if (!Number.isInteger(def.schemaVersion) || def.schemaVersion < 1) {
    throw new Error(`event ${def.type}: schemaVersion must be an integer >= 1`);
  }
  for (let v = 1; v < def.schemaVersion; v++) {
    if (def.upcast && !def.upcast[v]) {
      throw new Error(`event ${def.type}: has upcasters but none from version ${v} to ${v + 1}`);
    }
  }
  return def;
}

/** The data type of an event definition. */
export type EventData<D> = D extends EventDefinition<string, infer S> ? z.output<S> : never;

/** What every event is at the type level: a `type` tag and its data. */
export interface EventShape {
  type: string;
  data: unknown;
}

/**
 * The events a definition (or a union of definitions) reads back: `{ type, data }` with `data` as
 * the schema outputs it (defaults filled). A union in, a discriminated union out: switching on
 * `type` narrows `data`.
 */
export type EventOf<D> = D extends EventDefinition<infer T, infer S> ? { type: T; data: z.output<S> } : never;

/** The events a definition (or union) accepts when appended: `data` as the schema takes it (defaults optional). */
export type NewEventOf<D> = D extends EventDefinition<infer T, infer S> ? { type: T; data: z.input<S> } : never;
