import winston from 'winston';

export const REDACTED = '***';

/**
 * `scheme://user:password@host`: the password part of a URL's authority. The password runs to the
 * last `@` before the path, so an unencoded `@` inside it is still covered.
 */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*:)[^\s/?#]*@/gi;

/**
 * Replaces every occurrence of each secret (and of its URL-encoded form) with `***`, and the
 * password of any `scheme://user:password@` URL. Empty secrets are ignored.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  return makeRedactor(secrets)(text);
}

export type Redactor = (text: string) => string;

/** `redactSecrets` with the secret list prepared once (the formats call it for every string). */
export function makeRedactor(secrets: readonly string[]): Redactor {
  const list = expandSecrets(secrets);
  return (text) => {
    let out = text;
    for (const secret of list) {
      if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    }
    return out.replace(URL_PASSWORD, `$1${REDACTED}@`);
  };
}

/** The secrets plus their URL-encoded forms, longest first so a secret containing another is replaced whole. */
export function expandSecrets(secrets: readonly string[]): string[] {
  const all = new Set<string>();
  for (const s of secrets) {
    if (typeof s !== 'string' || s.length === 0) continue;
    all.add(s);
    all.add(encodeURIComponent(s));
  }
  return [...all].sort((a, b) => b.length - a.length);
}

const MAX_DEPTH = 12;

/**
 * A JSON-shaped copy of `value` with every string redacted. Plain objects and arrays are copied (the
 * caller's objects are never modified), errors become `{ name, message, stack }`, objects with a
 * `toJSON` (Date, URL, ...) are converted first, cycles become `"[Circular]"`.
 */
export function redactValue(value: unknown, redact: Redactor, seen = new WeakSet<object>(), depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Too deep]';
  seen.add(value);
  try {
    if (value instanceof Error) {
      const out: Record<string, unknown> = { name: value.name, message: value.message };
      if (value.stack) out.stack = value.stack;
      const code = (value as { code?: unknown }).code;
      if (code !== undefined) out.code = code;
      return redactValue(out, redact, seen, depth + 1);
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      return redactValue(toJSON.call(value), redact, seen, depth + 1);
    }
    if (Array.isArray(value)) return value.map((v) => redactValue(v, redact, seen, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      out[k] = redactValue(v, redact, seen, depth + 1);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Winston format: redacts the message and every metadata value before any transport sees them. */
export function redactFormat(redact: Redactor): winston.Logform.Format {
  return winston.format((info) => {
    for (const key of Object.keys(info)) {
      if (key === 'level') continue;
      info[key] = redactValue(info[key], redact);
    }
    return info;
  })();
}
