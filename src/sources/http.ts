import { z } from 'zod';
import { makeRedactor, type Redactor } from '../logging/redact';
import { defineSettings } from '../settings';
import { formatJsonPath, type JsonPath, lookupJsonPath, parseJsonPath } from './json-path';
import type { SharedRequests } from './shared';
import type { TaskSource } from './source';

const HTTP_SOURCE_DEFAULTS = {
  method: 'POST' as const,
  body: { run_type: 'gpu' } as unknown,
  queuedPath: 'totals.queued_only',
  activePath: 'totals.active_only',
  timeoutMs: 10_000,
  maxBytes: 1024 * 1024,
};

export interface HttpSourceOptions {
  /** TASK_COUNT_URL */
  url: string;
  /** TASK_COUNT_KEY: sent as `Authorization: Bearer <key>`; never appears in an error. */
  key?: string | null;
  /** TASK_COUNT_METHOD (default POST). */
  method?: 'GET' | 'POST';
  /** The JSON body of a POST (default `{"run_type":"gpu"}`); ignored for GET. */
  body?: unknown;
  /** Dotted paths into the answer (defaults `totals.queued_only`, `totals.active_only`). */
  queuedPath?: string;
  activePath?: string;
  /** Where per-worker activity is, if the endpoint gives it; absent in the answer means `workers: null`. */
  workersPath?: string | null;
  /** The source's own timeout (default 10 s); the controller's signal is honoured as well. */
  timeoutMs?: number;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** An answer larger than this is refused (default 1 MiB). */
  maxBytes?: number;
  /** The source's name in events (default `http`). */
  name?: string;
  /** Pools asking the same request share one per cycle (src/sources/shared.ts); absent: every fetch asks. */
  shared?: SharedRequests;
}

const EXCERPT_CHARS = 200;

/** Marks our own messages so the catch-all in request() passes them through unchanged. */
class HttpSourceError extends Error {
  override name = 'Error';
}

/**
 * Asks an HTTP endpoint (the operators' edge-function style) for the task count and extracts
 * `{ queued, active, workers }` from configurable JSON paths. The extracted values are returned
 * as they are (a string "51" stays a string): validation is the controller's job. A transport
 * failure, a non-2xx status, a body that is not JSON or a missing path is an Error whose message
 * names the status, a short excerpt of the body or the missing path, and never the bearer key.
 */
export class HttpTaskSource implements TaskSource {
  readonly name: string;
  private readonly method: 'GET' | 'POST';
  private readonly queuedPath: JsonPath;
  private readonly activePath: JsonPath;
  private readonly workersPath: JsonPath | null;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly bodyText: string | undefined;
  private readonly target: string;
  private readonly redact: Redactor;

  constructor(private readonly opts: HttpSourceOptions) {
    this.name = opts.name ?? 'http';
    // the key, and any `Bearer …` an endpoint echoes back, whatever it holds
    this.redact = makeRedactor(opts.key ? [opts.key] : []);
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new Error('TASK_COUNT_URL is not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`TASK_COUNT_URL must be an http:// or https:// URL (got ${url.protocol})`);
    }
    // Shown in errors: no credentials, no query string (either may hold a secret).
    this.target = `${url.origin}${url.pathname}`;
    this.method = opts.method ?? HTTP_SOURCE_DEFAULTS.method;
    this.queuedPath = parseJsonPath(opts.queuedPath ?? HTTP_SOURCE_DEFAULTS.queuedPath);
    this.activePath = parseJsonPath(opts.activePath ?? HTTP_SOURCE_DEFAULTS.activePath);
    this.workersPath = opts.workersPath ? parseJsonPath(opts.workersPath) : null;
    this.timeoutMs = opts.timeoutMs ?? HTTP_SOURCE_DEFAULTS.timeoutMs;
    if (!(this.timeoutMs > 0)) throw new Error(`timeoutMs must be positive (got ${this.timeoutMs})`);
    this.maxBytes = opts.maxBytes ?? HTTP_SOURCE_DEFAULTS.maxBytes;
    this.bodyText =
      this.method === 'POST'
        ? JSON.stringify(opts.body === undefined ? HTTP_SOURCE_DEFAULTS.body : opts.body)
        : undefined;
  }

  async fetch(opts: { workerIds: string[]; signal?: AbortSignal }): Promise<unknown> {
    // A byte-order mark before the JSON is allowed (JSON.parse refuses it).
    const { shared } = this.opts;
    const asked = shared
      ? shared.get(JSON.stringify([this.method, this.opts.url, this.bodyText ?? null, this.opts.key ?? null]), () =>
          this.request(opts.signal),
        )
      : this.request(opts.signal);
    const text = (await asked).replace(/^\uFEFF/, '');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${this.what()} did not answer JSON: ${this.excerpt(text)}`);
    }
    const read = (path: JsonPath, label: string) => {
      const got = lookupJsonPath(json, path);
      if (!got.found) {
        throw new Error(
          `${this.what()} answered without ${label} at "${formatJsonPath(path)}" (nothing at "${got.missingAt}"): ${this.excerpt(text)}`,
        );
      }
      return got.value;
    };
    const queued = read(this.queuedPath, 'queued');
    const active = read(this.activePath, 'active');
    let workers: unknown = null;
    if (this.workersPath) {
      const got = lookupJsonPath(json, this.workersPath);
      workers = got.found ? got.value : null;
    }
    return { queued, active, workers };
  }

  private async request(outer: AbortSignal | undefined): Promise<string> {
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.timeoutMs);
    const onOuter = () => abort.abort();
    if (outer?.aborted) abort.abort();
    else outer?.addEventListener('abort', onOuter, { once: true });
    const headers: Record<string, string> = { accept: 'application/json', ...this.opts.headers };
    if (this.bodyText !== undefined) headers['content-type'] = 'application/json';
    if (this.opts.key) headers.authorization = `Bearer ${this.opts.key}`;
    try {
      const res = await fetch(this.opts.url, {
        method: this.method,
        headers,
        body: this.bodyText,
        signal: abort.signal,
        // a redirect could carry the bearer key elsewhere: point TASK_COUNT_URL at the final address instead
        redirect: 'error',
      });
      const text = await readCapped(res, this.maxBytes);
      if (text === null) {
        abort.abort();
        throw new HttpSourceError(`${this.what()} answered more than ${this.maxBytes} bytes (HTTP ${res.status})`);
      }
      if (!res.ok) {
        throw new HttpSourceError(
          this.redact(`${this.what()} answered HTTP ${res.status} ${res.statusText}: ${this.excerpt(text)}`.trim()),
        );
      }
      return text;
    } catch (err) {
      if (err instanceof HttpSourceError) throw err;
      if (timedOut) throw new Error(`${this.what()} timed out after ${this.timeoutMs} ms`);
      if (outer?.aborted) throw new Error(`${this.what()} was aborted by the caller`);
      throw new Error(this.redact(`${this.what()} failed: ${describeFetchError(err)}`));
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    }
  }

  private what(): string {
    return `${this.method} ${this.target}`;
  }

  /** A short, single-line excerpt of a body with the key masked. */
  private excerpt(text: string): string {
    const flat = this.redact(text).replace(/\s+/g, ' ').trim();
    if (flat === '') return '(empty body)';
    return flat.length > EXCERPT_CHARS ? `${flat.slice(0, EXCERPT_CHARS)}… (${text.length} chars)` : flat;
  }
}

async function readCapped(res: Response, maxBytes: number): Promise<string | null> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeFetchError(err: unknown): string {
  const e = err as Error & { cause?: unknown };
  const cause = e?.cause as (Error & { code?: string }) | undefined;
  if (cause?.message)
    return cause.code && !cause.message.includes(cause.code) ? `${cause.code} ${cause.message}` : cause.message;
  return e?.message ?? String(err);
}

export function createHttpSource(opts: HttpSourceOptions): HttpTaskSource {
  return new HttpTaskSource(opts);
}

/** TASK_SOURCE=http settings: validated only when http is the source. */
export const HTTP_SOURCE_SETTINGS = {
  /** The edge function (POST or GET) that answers with the counts. */
  TASK_COUNT_URL: z.url().optional(),
  TASK_COUNT_KEY: z.string().optional(),
  TASK_COUNT_METHOD: z.enum(['POST', 'GET']).default('POST'),
  TASK_COUNT_BODY: z
    .string()
    .refine((s) => {
      try {
        JSON.parse(s);
        return true;
      } catch {
        return false;
      }
    }, 'valid JSON')
    .default('{"run_type":"gpu"}'),
  TASK_COUNT_QUEUED_PATH: z.string().default('totals.queued_only'),
  TASK_COUNT_ACTIVE_PATH: z.string().default('totals.active_only'),
  TASK_COUNT_WORKERS_PATH: z.string().optional(),
};

const httpSettings = z.object(HTTP_SOURCE_SETTINGS);

/** The rules across the http source's settings: a URL, and paths it can read. */
export function checkHttpSourceSettings(s: z.output<typeof httpSettings>): string[] {
  const problems: string[] = [];
  if (!s.TASK_COUNT_URL) problems.push('TASK_COUNT_URL is required with TASK_SOURCE=http');
  for (const key of ['TASK_COUNT_QUEUED_PATH', 'TASK_COUNT_ACTIVE_PATH', 'TASK_COUNT_WORKERS_PATH'] as const) {
    const value = s[key];
    if (value === undefined) continue;
    try {
      parseJsonPath(value); // the rule the source reads it with
    } catch (err) {
      problems.push(`${key}=${JSON.stringify(value)} is not allowed: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** TASK_SOURCE=http: counts from an edge function (registered in index.ts). */
export const httpSourceDefinition = defineSettings({
  name: 'http',
  settings: HTTP_SOURCE_SETTINGS,
  secrets: ['TASK_COUNT_KEY'],
  check: checkHttpSourceSettings,
});
