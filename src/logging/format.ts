import winston from 'winston';
import { levelLabel } from './levels';

/** Keys winston (or our timestamp format) puts on every entry: not part of an entry's metadata. */
const INTERNAL_KEYS = new Set(['level', 'message', 'timestamp', 'splat']);

/** The caller's metadata of an entry: everything but winston's own fields (symbol keys are never enumerated). */
export function metadataOf(info: Record<string, unknown>): Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(info)) {
    if (!INTERNAL_KEYS.has(key) && value !== undefined) meta[key] = value;
  }
  return meta;
}

/** JSON.stringify that never throws (cycles, bigints, Errors, throwing toJSON). */
function safeJson(value: unknown): string {
  const stack: object[] = [];
  try {
    return JSON.stringify(value, function (this: unknown, _key, v: unknown) {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Error) return { name: v.name, message: v.message, stack: v.stack };
      if (typeof v === 'object' && v !== null) {
        // `this` is the holder: drop the stack back to it, then look for v among its ancestors.
        while (stack.length > 0 && stack[stack.length - 1] !== this) stack.pop();
        if (stack.includes(v)) return '[Circular]';
        stack.push(v);
      }
      return v;
    });
  } catch (err) {
    return JSON.stringify({ unserializable: String((err as Error)?.message ?? err) });
  }
}

export function messageText(message: unknown): string {
  return typeof message === 'string' ? message : safeJson(message);
}

/** `<timestamp> <LEVEL> <message>`; a multi-line message is printed as it is. */
function textLine(info: Record<string, unknown>): string {
  return `${String(info.timestamp ?? '')} ${levelLabel(String(info.level))} ${messageText(info.message)}`;
}

/** One JSON object: timestamp, level, message, then the metadata fields. */
function jsonLine(info: Record<string, unknown>): string {
  return safeJson({
    timestamp: info.timestamp,
    level: info.level,
    message: messageText(info.message),
    ...metadataOf(info),
  });
}

/** Human-readable lines for a terminal and for the log file. */
export const textFormat = (): winston.Logform.Format => winston.format.printf((info) => textLine(info));

/** One JSON object per line, for log shippers. */
export const jsonFormat = (): winston.Logform.Format => winston.format.printf((info) => jsonLine(info));
