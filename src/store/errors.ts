import { GpuScalerError } from '../errors';
import { type PgError, pgErrorCode } from './db';

export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | number;

/** The stream was not at the version the caller expected. */
export class ConcurrencyError extends GpuScalerError {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedVersion,
    readonly actual: number,
  ) {
    super(
      'CONCURRENCY',
      `wrong expected version for stream "${streamId}": expected ${describeExpected(expected)}, actual version ${actual}`,
    );
    this.name = 'ConcurrencyError';
  }
}

/** An event id already stored belongs to a different event. */
export class EventIdConflictError extends GpuScalerError {
  constructor(
    readonly streamId: string,
    readonly eventIds: string[],
  ) {
    super(
      'EVENT_ID_CONFLICT',
      `event id ${eventIds.join(', ')} is already stored for a different event (appending to "${streamId}"): ` +
        'a retry must resend the same event; a new event needs a new id',
    );
    this.name = 'EventIdConflictError';
  }
}

declare module '../errors' {
  interface CodedErrors {
    CONCURRENCY: ConcurrencyError;
    EVENT_ID_CONFLICT: EventIdConflictError;
  }
}

export function describeExpected(e: ExpectedVersion): string {
  if (e === 'no_stream') return 'no stream (version 0)';
  if (e === 'stream_exists') return 'an existing stream';
  if (e === 'any') return 'any version';
  return `version ${e}`;
}

function parseDetail(err: PgError): Record<string, unknown> {
  try {
    return JSON.parse(err.detail ?? '{}');
  } catch {
    return {};
  }
}

/** Turns the SQLSTATEs raised by append_events into typed errors. */
export function mapAppendError(err: unknown, streamId: string, expected: ExpectedVersion): unknown {
  const code = pgErrorCode(err);
  if (code === 'GS001') {
    const d = parseDetail(err as PgError);
    return new ConcurrencyError(streamId, expected, Number(d.actual));
  }
  if (code === 'GS002') {
    const d = parseDetail(err as PgError);
    return new EventIdConflictError(streamId, (d.event_ids as string[]) ?? []);
  }
  if (code === '23505' && String((err as PgError).message).includes('events_event_id_unique')) {
    // Two concurrent appends to different streams raced on one event id.
    return new EventIdConflictError(streamId, []);
  }
  return err;
}
