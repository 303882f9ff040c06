import { CliError, EXIT } from './context';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "2m", "1h", "7d" -> milliseconds. */
export function parseDuration(text: string, flag = '--window'): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/i.exec(text.trim());
  if (!m) {
    throw new CliError(
      `${flag} "${text}" is not a duration: use a number and a unit, like 90s, 2m, 1h or 7d`,
      EXIT.usage,
    );
  }
  return Number(m[1]) * UNITS[m[2].toLowerCase()];
}

/**
 * A point in time from the user:
 * - an ISO timestamp: 2026-11-27T18:25:00Z (no zone: local time, or UTC with `utc`)
 * - a time of day, today: 18:25 or 18:25:42 (local, or UTC with `utc`); a time later than now
 *   means yesterday
 * - with `allowAgo`, a duration meaning that long ago: 1h, 30m
 */
export function parseTime(
  text: string,
  opts: { now?: Date; utc?: boolean; allowAgo?: boolean; flag?: string } = {},
): Date {
  const now = opts.now ?? new Date();
  const flag = opts.flag ?? '--at';
  const t = text.trim();
  if (opts.allowAgo && /^\d+(?:\.\d+)?\s*[smhd]$/i.test(t)) return new Date(now.getTime() - parseDuration(t, flag));
  const tod = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(t);
  if (tod) {
    const [h, mi, s, ms] = [
      Number(tod[1]),
      Number(tod[2]),
      Number(tod[3] ?? 0),
      Number((tod[4] ?? '0').padEnd(3, '0')),
    ];
    if (h > 23 || mi > 59 || s > 59)
      throw new CliError(`${flag} "${text}" is not a time of day (HH:MM[:SS])`, EXIT.usage);
    const d = new Date(now);
    if (opts.utc) d.setUTCHours(h, mi, s, ms);
    else d.setHours(h, mi, s, ms);
    if (d.getTime() > now.getTime() + 60_000) d.setTime(d.getTime() - 86_400_000);
    return d;
  }
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(t)) {
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(t);
    const iso = t.replace(' ', 'T');
    const d = new Date(hasZone || !opts.utc ? iso : `${iso.length === 10 ? `${iso}T00:00:00` : iso}Z`);
    if (!Number.isNaN(d.getTime())) return d;
  }
  const allowed = opts.allowAgo
    ? 'a duration ago (30m, 1h, 2d), a time of day (18:25) or an ISO timestamp (2026-11-27T18:25:00Z)'
    : 'a time of day (18:25 or 18:25:42) or an ISO timestamp (2026-11-27T18:25:00Z)';
  throw new CliError(`${flag} "${text}" is not a time: use ${allowed}`, EXIT.usage);
}

/** HH:MM:SS of a date, local or UTC. */
export function clockTime(d: Date, utc = false): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return utc
    ? `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`
    : `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
