import winston from 'winston';

const REDACTED = '***';

/**
 * `scheme://user:password@host`: the password part of a URL's authority. The password runs to the
 * last `@` before the path, so an unencoded `@` inside it is still covered.
 */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*:)[^\s/?#]*@/gi;

/** `Bearer <token>` (an Authorization header echoed back): the token, whatever it is. */
const BEARER_TOKEN = /\b(Bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi;

/**
 * A URL's password shorter than this is not redacted on its own (URL passwords are redacted in any
 * URL anyway), nor a value of a JSON object (a worker environment also holds plain settings such as
 * "true" or "1", which must not vanish from every log line).
 */
const MIN_PASSWORD_CHARS = 4;
const MIN_JSON_VALUE_CHARS = 8;

/**
 * The secret values to redact, from the settings named in `keys` (the configuration's SECRET_KEYS,
 * read from a parsed configuration or straight from the environment): each value whole, the
 * password of a URL (as written and decoded), and the string values of a JSON object (a worker
 * environment). One list, used by every destination: logs, system_logs, events, errors.
 */
export function secretValues(settings: Record<string, unknown>, keys: readonly string[]): string[] {
  const out = new Set<string>();
  const addPart = (v: string, min: number) => {
    if (v.length >= min) out.add(v);
  };
  for (const key of keys) {
    const value = settings[key];
    if (typeof value !== 'string' || value.trim() === '') continue;
    out.add(value);
    out.add(value.trim());
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
      try {
        const url = new URL(value.trim());
        if (url.password) {
          addPart(url.password, MIN_PASSWORD_CHARS);
          addPart(safeDecode(url.password), MIN_PASSWORD_CHARS);
        }
      } catch {
        /* not a URL after all: the whole value is redacted */
      }
    }
    if (value.trim().startsWith('{')) {
      try {
        const parsed: unknown = JSON.parse(value);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
          for (const v of Object.values(parsed)) if (typeof v === 'string') addPart(v, MIN_JSON_VALUE_CHARS);
        }
      } catch {
        /* not JSON: the whole value is redacted */
      }
    }
  }
  return [...out];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Replaces every occurrence of each secret (and of its URL-encoded form) with `***`, the password
 * of any `scheme://user:password@` URL and the token of any `Bearer <token>`. Empty secrets are
 * ignored.
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
    return out.replace(URL_PASSWORD, `$1${REDACTED}@`).replace(BEARER_TOKEN, `$1${REDACTED}`);
  };
}

/** The secrets plus their URL-encoded forms, longest first so a secret containing another is replaced whole. */
function expandSecrets(secrets: readonly string[]): string[] {
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
 * A copy of JSON-shaped `value` (event data, metadata) with every string redacted; anything that is
 * not a string, a plain object or an array is kept as it is, so a schema sees the same types.
 * Returns `value` itself when nothing changed.
 */
export function redactStrings<T>(value: T, redact: Redactor, depth = 0): T {
  if (typeof value === 'string') return redact(value) as T;
  if (typeof value !== 'object' || value === null || depth > 64) return value;
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((v) => {
      const r = redactStrings(v, redact, depth + 1);
      if (r !== v) changed = true;
      return r;
    });
    return (changed ? out : value) as T;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const rk = redact(k);
    const rv = redactStrings(v, redact, depth + 1);
    if (rk !== k || rv !== v) changed = true;
    out[rk] = rv;
  }
  return (changed ? out : value) as T;
}

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
