import winston from 'winston';
import { z } from 'zod';

const REDACTED = '***';

/**
 * `scheme://user:password@host`: the password part of a URL's authority. The password runs to the
 * last `@` before the path, so an unencoded `@` inside it is still covered.
 */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*:)[^\s/?#]*@/gi;

/** `Bearer <token>` (an Authorization header echoed back): the token, whatever it is. */
const BEARER_TOKEN = /\b(Bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi;

/**
 * The shortest secret that can be redacted safely. Every log line, event and error is searched for
 * each secret and each occurrence replaced by `***`: a short value (`a`, `id`, `2026`, `worker`)
 * occurs in ordinary words, numbers and timestamps, so every line would be mangled. A secret setting
 * that is too short or too common is refused at start (config.ts); a part of a setting (a URL's
 * password, a value of a worker environment) that is not safe is redacted only where its place
 * says what it is (`scheme://user:***@`), never on its own.
 */
export const MIN_SECRET_CHARS = 8;

/** Letters only (a word) or digits only (a number, a date): too common below this length. */
const MIN_ONE_CLASS_CHARS = 16;

/** Words gpu-scaler writes itself, or that every deployment has: never a secret. */
const COMMON_WORDS = [
  'gpu-scaler',
  'orchestrator',
  'postgres',
  'postgresql',
  'localhost',
  'password',
  'changeme',
  'secret',
  'undefined',
  'simulated',
  'kubernetes',
  'runpod',
];

/**
 * Why `value` cannot be redacted safely, or null when it can: shorter than MIN_SECRET_CHARS,
 * one character repeated, a word or a number shorter than 16 characters, or contained in a word
 * the service writes itself (`ownWords`: its setting names, event types; COMMON_WORDS). Never
 * quotes the value.
 */
export function unsafeSecretReason(value: string, ownWords: readonly string[] = []): string | null {
  const v = value.trim();
  if (v.length < MIN_SECRET_CHARS) {
    return `it is ${v.length} character${v.length === 1 ? '' : 's'} long; a secret must have at least ${MIN_SECRET_CHARS}`;
  }
  if (/^(.)\1*$/s.test(v)) return 'it is one character repeated';
  if (/^\d+$/.test(v) && v.length < MIN_ONE_CLASS_CHARS) {
    return `it is a number of ${v.length} digits, which occurs in counts, times and dates; a secret of digits only must have at least ${MIN_ONE_CLASS_CHARS}`;
  }
  if (/^[a-z]+$/i.test(v) && v.length < MIN_ONE_CLASS_CHARS) {
    return `it is a word of ${v.length} letters, which occurs in ordinary text; a secret of letters only must have at least ${MIN_ONE_CLASS_CHARS}`;
  }
  const lower = v.toLowerCase();
  if ([...COMMON_WORDS, ...ownWords].some((w) => w.toLowerCase().includes(lower))) {
    return 'it is (part of) a word gpu-scaler or every deployment writes (a setting, an event type, a product name)';
  }
  return null;
}

const isSafePart = (v: string) => unsafeSecretReason(v) === null;

/**
 * The secret values to redact, from the settings named in `keys` (the configuration's SECRET_KEYS,
 * read from a parsed configuration or straight from the environment): each value whole, the
 * password of a URL (as written and decoded), and the string values of a JSON object (a worker
 * environment), each part only when it is safe to redact on its own (unsafeSecretReason). One list,
 * used by every destination: logs, system_logs, events, errors.
 */
export function secretValues(settings: Record<string, unknown>, keys: readonly string[]): string[] {
  const out = new Set<string>();
  const addPart = (v: string) => {
    if (isSafePart(v)) out.add(v);
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
          addPart(url.password);
          addPart(safeDecode(url.password));
        }
      } catch {
        /* not a URL after all: the whole value is redacted */
      }
    }
    if (value.trim().startsWith('{')) {
      try {
        const parsed: unknown = JSON.parse(value);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
          for (const v of Object.values(parsed)) if (typeof v === 'string') addPart(v);
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
 * A copy of JSON-shaped `value` (event metadata, data of no known shape) with every string value
 * redacted; keys are never touched, and anything that is not a string, a plain object or an array
 * is kept as it is, so a schema sees the same types and shape. Returns `value` itself when nothing
 * changed.
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
    const rv = redactStrings(v, redact, depth + 1);
    if (rv !== v) changed = true;
    out[k] = rv;
  }
  return (changed ? out : value) as T;
}

/**
 * A copy of event data with the secrets redacted only where its schema says free text can be: a
 * string without a format (an error text, a provider's or a source's answer, an id it gave), and
 * data of no declared shape (`unknown`: a provider's details), values only. Keys, timestamps, uuids,
 * enums, numbers and every other constrained field are never touched, and a redacted string is kept
 * within its length bounds, so data that the schema accepted before is still accepted after: a
 * redacted event is valid by construction. Returns `value` itself when nothing changed.
 */
export function redactBySchema<T>(schema: z.ZodType, value: T, redact: Redactor, depth = 0): T {
  return redactAs(schema, value, redact, depth) as T;
}

function redactAs(schema: z.ZodType, value: unknown, redact: Redactor, depth: number): unknown {
  if (depth > 64 || value === null || value === undefined) return value;
  if (schema instanceof z.ZodString) {
    if (typeof value !== 'string' || schema.format !== null) return value;
    const r = redact(value);
    if (r === value) return value;
    // `***` for a URL password or a token of fewer than 3 characters lengthens the text: keep within the bounds
    const cut = schema.maxLength === null ? r : r.slice(0, schema.maxLength);
    return schema.minLength === null ? cut : cut.padEnd(schema.minLength, '*');
  }
  if (schema instanceof z.ZodUnknown || schema instanceof z.ZodAny) return redactStrings(value, redact, depth);
  if (
    schema instanceof z.ZodOptional ||
    schema instanceof z.ZodNullable ||
    schema instanceof z.ZodDefault ||
    schema instanceof z.ZodPrefault ||
    schema instanceof z.ZodCatch ||
    schema instanceof z.ZodReadonly ||
    schema instanceof z.ZodNonOptional
  ) {
    return redactAs(schema.unwrap() as z.ZodType, value, redact, depth + 1);
  }
  if (schema instanceof z.ZodPipe) return redactAs(schema.in as z.ZodType, value, redact, depth + 1);
  if (schema instanceof z.ZodLazy) return redactAs(schema.unwrap() as z.ZodType, value, redact, depth + 1);
  if (schema instanceof z.ZodUnion) {
    // the first member that takes the value as it is decides which of its parts are free text
    const member = (schema.options as readonly z.ZodType[]).find((o) => o.safeParse(value).success);
    return member ? redactAs(member, value, redact, depth + 1) : value;
  }
  if (schema instanceof z.ZodArray) {
    if (!Array.isArray(value)) return value;
    let changed = false;
    const out = value.map((v) => {
      const r = redactAs(schema.element as z.ZodType, v, redact, depth + 1);
      if (r !== v) changed = true;
      return r;
    });
    return changed ? out : value;
  }
  if (schema instanceof z.ZodObject || schema instanceof z.ZodRecord) {
    if (typeof value !== 'object' || Array.isArray(value)) return value;
    const shape: Record<string, z.ZodType> = schema instanceof z.ZodObject ? schema.shape : {};
    const rest = schema instanceof z.ZodRecord ? (schema.valueType as z.ZodType) : null;
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const field = Object.hasOwn(shape, k) ? shape[k] : rest;
      // a key the schema does not declare: stripped, or kept by a loose object (then it is free text)
      const r = field ? redactAs(field, v, redact, depth + 1) : redactStrings(v, redact, depth + 1);
      if (r !== v) changed = true;
      out[k] = r;
    }
    return changed ? out : value;
  }
  // numbers, booleans, enums, literals, dates: no free text
  return value;
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

/** What the logger itself sets on an entry: never a secret, never redacted. */
const OWN_LOG_FIELDS = new Set(['level', 'timestamp']);

/**
 * Winston format: redacts the message and every metadata value (values only, never keys) before any
 * transport sees them.
 */
export function redactFormat(redact: Redactor): winston.Logform.Format {
  return winston.format((info) => {
    for (const key of Object.keys(info)) {
      if (OWN_LOG_FIELDS.has(key)) continue;
      info[key] = redactValue(info[key], redact);
    }
    return info;
  })();
}
