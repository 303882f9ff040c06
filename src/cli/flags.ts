import { Option } from 'commander';
import { DEFAULT_POOL, POOL_NAME_ALLOWED, POOL_NAME_PATTERN } from '../../events/common';
import { ALL_POOLS } from '../../events/operator';
import type { Until } from '../projections/rebuild';
import { CliError, EXIT } from './context';
import { parseTime } from './time';

/**
 * The flags several commands share, defined once: the same name takes the same forms, reads the
 * same way and has the same help in every command that has it. A command adds them with
 * `.addOption(nowOption())` and reads them with the parsers below.
 *
 * - `--utc`: times the user types without a zone, and times shown, are UTC (default: local time).
 * - `--now <time>`: the moment times of day (18:25) and ages (1h) are read against; every command
 *   that reads a time of day has it.
 * - `--since <time>` / `--until <position|time>`: a time of day, an ISO timestamp or a duration
 *   ago; `--until` also takes a global position (a bare whole number), in `events` as in `replay`.
 * - `--window <duration>`: the span of time a command shows (90s, 2m, 1h, 7d); each command says
 *   where the span sits (around --at in explain, ending at now in status).
 * - `--json`: the result as JSON on stdout.
 * - `--pool <pool>` (repeatable): the pools a command is about. A reading command (status, explain,
 *   events) shows only those pools (default: every pool); an operator command (pause, set, ...)
 *   applies to them (it names its pools, or --all). One form and one check of the name everywhere.
 */

/** How every duration flag is described (--window; --since 1h is a duration ago). */
export const DURATION_FORMS = 'a duration: 90s, 2m, 1h or 7d';

/** How every flag that takes a time is described. */
export const TIME_FORMS =
  'a time of day (18:25 or 18:25:42, the last one before --now), an ISO timestamp (2026-11-27T18:25:00Z)';

/** Times before now, as --since and --until also take them. */
export const AGO_FORMS = 'or a duration ago (30m, 2h, 7d)';

/** `--now`: the moment times of day and ages are read against (default: this machine's clock). */
export const NOW_HELP = 'read times of day and ages as if it were this time (an ISO timestamp or HH:MM[:SS])';

export const UTC_HELP = 'read times without a zone, and show times, in UTC (default: local time)';

export const nowOption = () => new Option('--now <time>', NOW_HELP);

export const utcOption = () => new Option('--utc', UTC_HELP);

export const jsonOption = (what: string) => new Option('--json', what);

/** `--window <duration>`: `where` says where the span sits (e.g. "centred on --at"). */
export const windowOption = (where: string, defaultValue: string) =>
  new Option('--window <duration>', `the span of time to show, ${where}: ${DURATION_FORMS}`).default(defaultValue);

export const sinceOption = (what = 'events at or after') =>
  new Option('--since <time>', `${what}: ${TIME_FORMS}, ${AGO_FORMS}`);

export const UNTIL_HELP = `a global position (a bare whole number: up to and including it) or a time: ${TIME_FORMS}, ${AGO_FORMS}`;

/** `--until <position|time>`: the same forms in every command (events, replay). */
export const untilOption = (what: string) => new Option('--until <position|time>', `${what}: ${UNTIL_HELP}`);

/** A whole-number flag's parser (commander argParser); anything else is bad usage naming the flag. */
export function wholeNumber(flag: string, min: number): (text: string) => number {
  return (text: string) => {
    const n = Number(text);
    if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < min) {
      throw new CliError(`${flag} ${text} is not allowed: expected a whole number >= ${min}`, EXIT.usage);
    }
    return n;
  };
}

/** The clock flags as a command received them. */
export interface ClockFlags {
  utc?: boolean;
  now?: string;
}

/** Parses `--now` the same way in every command (a time of day: the last one before `clock`); undefined when not given. */
export function parseNow(text: string | undefined, utc = false, clock?: Date): Date | undefined {
  return text === undefined ? undefined : parseTime(text, { utc, now: clock, flag: '--now' });
}

/** --utc and --now read once: whether times are UTC, and the moment times of day are read against. */
export function readClock(raw: ClockFlags, clock: Date = new Date()): { utc: boolean; now: Date; nowGiven: boolean } {
  const utc = raw.utc === true;
  const given = parseNow(raw.now, utc, clock);
  return { utc, now: given ?? clock, nowGiven: given !== undefined };
}

/** `--since` (and `--at`) in every command: a time of day, an ISO timestamp or (with allowAgo) a duration ago. */
export function parseSince(
  text: string,
  opts: { utc?: boolean; now?: Date; allowAgo?: boolean; flag?: string } = {},
): Date {
  return parseTime(text, { allowAgo: true, flag: '--since', ...opts });
}

/**
 * `--until` in every command: a bare whole number is a global position; anything else a time
 * parseTime understands (with `allowAgo`, also a duration ago: 30m, 1h).
 */
export function parseUntil(text: string, opts: { utc?: boolean; now?: Date; allowAgo?: boolean } = {}): Until {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const position = Number(t);
    if (!Number.isSafeInteger(position)) throw new CliError(`--until ${text}: position too large`, EXIT.usage);
    return { kind: 'position', position };
  }
  return {
    kind: 'time',
    time: parseTime(t, { utc: opts.utc, now: opts.now, allowAgo: opts.allowAgo, flag: '--until' }),
  };
}

/** Reads one `--pool` and adds it to those given before (the flag repeats); a bad name is bad usage. */
export function collectPool(text: string, previous: string[] | undefined): string[] {
  if (!POOL_NAME_PATTERN.test(text)) {
    throw new CliError(`--pool ${text} is not allowed: a pool name is ${POOL_NAME_ALLOWED}`, EXIT.usage);
  }
  return previous?.includes(text) ? previous : [...(previous ?? []), text];
}

/** `--pool <pool>` (repeatable) in every command that has it: `what` says what the pools are for. */
export const poolOption = (what: string) =>
  new Option('--pool <pool>', `${what} (repeatable; a pool name is ${POOL_NAME_ALLOWED})`).argParser(collectPool);

/**
 * Whether a record of `pool` is one a reading command's `--pool` asks for: every record without
 * `--pool`; with it, the named pools' (a record without a pool is pool default's, an operator command
 * on every pool, `*`, is each pool's).
 */
export function inPools(pools: readonly string[] | undefined, pool: string | null | undefined): boolean {
  if (!pools?.length) return true;
  const p = pool ?? DEFAULT_POOL;
  return p === ALL_POOLS || pools.includes(p);
}
