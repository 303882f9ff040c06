/**
 * When an event happened, the one definition: the `at` every gpu-scaler event carries (ISO 8601,
 * the controller's clock), else recorded_at (the commit time) when it has none in that form.
 *
 * In SQL it is the IMMUTABLE function event_time(data, recorded_at) of
 * migrations/0009_event_time.sql, indexed as events_event_time_idx: a query that filters or sorts
 * by EVENT_TIME_SQL uses that index. eventTime() is the same rule for an event already read (the
 * `events --follow` filter), and agrees with the SQL to the millisecond.
 */

/** The event time of a row of `events` (columns data and recorded_at), as SQL. */
export const EVENT_TIME_SQL = 'event_time(data, recorded_at)';

/** The cycle of a controller-stream event, as SQL (bigint, or null); indexed for that stream. */
export const EVENT_CYCLE_SQL = 'event_cycle(data)';

/** The form event_time accepts; anything else falls back to recorded_at. */
const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2})(?::?(\d{2}))?)$/;

/** The time an event is about, as event_time() computes it in SQL. */
export function eventTime(data: unknown, recordedAt: Date): Date {
  const at = typeof data === 'object' && data !== null ? (data as { at?: unknown }).at : undefined;
  const m = typeof at === 'string' ? ISO.exec(at) : null;
  if (!m) return recordedAt;
  const n = (s: string | undefined) => Number(s ?? 0);
  const sign = m[8] === '-' ? -1 : 1;
  const d = new Date(0);
  // setUTCFullYear, not Date.UTC: years 0-99 stay themselves. Fields out of range roll over, as
  // in SQL (date + interval).
  d.setUTCFullYear(n(m[1]), n(m[2]) - 1, n(m[3]));
  d.setUTCHours(
    n(m[4]) - sign * n(m[9]),
    n(m[5]) - sign * n(m[10]),
    n(m[6]),
    n((m[7] ?? '').slice(0, 3).padEnd(3, '0')),
  );
  return d;
}
