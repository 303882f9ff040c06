import { z } from 'zod';
import { isoTime, poolField } from './common';
import { defineEvent } from './define';

/** The stream quarantine records are appended to. */
export const QUARANTINE_STREAM = 'quarantine';

/**
 * A stored event that no schema of this build reads (its data does not validate, its type or
 * schema version is unknown) was put aside: every reader and projection skips it from now on, and
 * this record names it. Recorded once per stored event (the event id is derived from the quarantined
 * event's own id, so a second reader, or a second process, writes nothing). The stored row itself is
 * kept as it is: an append-only log is never rewritten.
 */
export const EventQuarantined = defineEvent({
  type: 'EventQuarantined',
  schemaVersion: 1,
  schema: z.object({
    /** When the quarantined event was recorded (its recorded_at): the same in every record of it. */
    at: isoTime,
    /** The pool the quarantined event belongs to, when known (`default` until pools exist). */
    pool: poolField,
    position: z.number().int().positive(),
    streamId: z.string(),
    streamVersion: z.number().int(),
    eventId: z.string(),
    eventType: z.string(),
    schemaVersion: z.number().int(),
    /** Why it cannot be read (the validation error). */
    error: z.string(),
  }),
});
