/**
 * Syslog levels (the RFC 5424 names), most severe first.
 * Task counts and scaling decisions are logged at `crit`, the most severe level the controller
 * uses, so no level filter ever hides them.
 */
export const LOG_LEVELS = {
  emerg: 0,
  alert: 1,
  crit: 2,
  error: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
} as const;

export type LogLevel = keyof typeof LOG_LEVELS;

/** The names, most severe first. */
export const LOG_LEVEL_NAMES = Object.keys(LOG_LEVELS) as [LogLevel, ...LogLevel[]];

export function isLogLevel(name: string): name is LogLevel {
  return Object.hasOwn(LOG_LEVELS, name);
}

/** Level name as printed by the text formats: upper case, padded to the longest name. */
export function levelLabel(level: string): string {
  return level.toUpperCase().padEnd(7);
}
