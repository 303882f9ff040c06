import type { z } from 'zod';
import { type Clock, systemClock } from '../../clock';
import { makeRedactor } from '../../logging/redact';
import {
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  type RetryDecision,
  type RetryPolicy,
  withRetries,
} from '../http-retry';

/**
 * HTTP for provider APIs, apart from any one provider's shapes: per-request timeouts, retries with
 * capped exponential backoff and jitter (http-retry.ts) for 5xx answers, network errors and
 * timeouts, Retry-After on 429, waits asked for by a `RateLimit` header, RFC 9457 problem+json
 * error bodies, and redaction of the secrets it was given from every message it produces.
 */
export interface TransportOptions {
  /** Paths are appended to it (trailing slashes dropped). */
  baseUrl: string;
  /** Sent on every request (e.g. Authorization); their values are redacted from messages. */
  headers: Record<string, string>;
  /** More strings never to show (the API key itself). */
  secrets: string[];
  retry?: Partial<RetryPolicy>;
  /** A Retry-After (or RateLimit wait) longer than this is not waited out: the call fails at once (default 60 s). */
  maxRetryAfterMs?: number;
  /** Per request, wall clock (default 30 s). */
  timeoutMs?: number;
  clock?: Clock;
  /** Jitter source in [0, 1) (default Math.random). */
  random?: () => number;
  fetch?: typeof fetch;
  /** Retries and waits, already redacted. */
  log?: (level: 'info' | 'warning', message: string) => void;
  /** Names the API in retry lines ("RunPod"). */
  service: string;
}

/** An RFC 9457 problem body (application/problem+json), fields as sent when present. */
export interface Problem {
  title?: string;
  status?: number;
  detail?: string;
  errors?: string[];
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * network / timeout: no answer; server: 5xx; rate_limited: 429; status: any other unwanted status;
 * invalid: an answer whose body is not what was expected.
 */
export type HttpFailureKind = 'network' | 'timeout' | 'server' | 'rate_limited' | 'status' | 'invalid';

/** One failed call, classified; the provider turns it into its ProviderError. Messages are redacted. */
export class HttpFailure extends Error {
  attempts = 1;
  constructor(
    readonly kind: HttpFailureKind,
    readonly status: number | null,
    message: string,
    readonly problem: Problem | null = null,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'HttpFailure';
  }
}

/** Failures after which a POST may or may not have done its work. */
const AMBIGUOUS: readonly HttpFailureKind[] = ['network', 'timeout', 'server'];

/**
 * The wait a `RateLimit` header asks for, in ms: the header is a list of windows such as
 * `"minute";r=0;t=12, "hour";r=2800;t=1812` (r: requests left, t: seconds until the window resets).
 * A window with r=0 means wait its t; the longest such wait wins. Undefined when none is exhausted.
 */
export function parseRateLimit(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  let wait: number | undefined;
  for (const item of value.split(',')) {
    const params = new Map<string, string>();
    for (const part of item.split(';').slice(1)) {
      const [k, v] = part.split('=').map((s) => s.trim());
      if (k && v !== undefined) params.set(k.toLowerCase(), v);
    }
    const r = Number(params.get('r'));
    const t = Number(params.get('t'));
    if (params.has('r') && r === 0 && Number.isFinite(t) && t >= 0) wait = Math.max(wait ?? 0, Math.round(t * 1000));
  }
  return wait;
}

/** The problem+json body of an answer, or null when it is not one. */
function parseProblem(text: string): Problem | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const o: Record<string, unknown> = { ...json };
  const p: Problem = {};
  if (typeof o.title === 'string') p.title = o.title;
  if (typeof o.status === 'number') p.status = o.status;
  if (typeof o.detail === 'string') p.detail = o.detail;
  else if (typeof o.message === 'string') p.detail = o.message;
  else if (typeof o.error === 'string') p.detail = o.error;
  if (Array.isArray(o.errors)) p.errors = o.errors.map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
  return Object.keys(p).length ? p : null;
}

/** The `rel="next"` target of a Link header, or null. */
export function nextLink(value: string | null | undefined): string | null {
  if (!value) return null;
  for (const part of value.split(',')) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (m && /rel\s*=\s*"?next"?/i.test(m[2] ?? '')) return m[1] ?? null;
  }
  return null;
}

export class HttpTransport {
  readonly baseUrl: string;
  private readonly policy: RetryPolicy;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  readonly maxRetryAfterMs: number;
  private readonly redactor: (text: string) => string;
  /** No request is sent before this time (a RateLimit window ran out). */
  private pausedUntil = 0;

  constructor(private readonly o: TransportOptions) {
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    this.policy = { ...DEFAULT_RETRY_POLICY, ...o.retry };
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? Math.random;
    this.fetchImpl = o.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.maxRetryAfterMs = o.maxRetryAfterMs ?? 60_000;
    const redactSecrets = makeRedactor([...o.secrets, ...Object.values(o.headers)].filter((s) => s.length >= 4));
    this.redactor = (text) => redactSecrets(text).replace(/(Bearer\s+)[^\s"',;]+/gi, '$1***');
  }

  redact(text: string): string {
    return this.redactor(text);
  }

  /** One request (no retry); a RateLimit pause asked for by an earlier answer is waited out first. */
  async send(method: string, path: string, query?: Record<string, string>, body?: unknown): Promise<HttpAnswer> {
    const wait = this.pausedUntil - this.clock.now().getTime();
    if (wait > 0) {
      this.log('info', `${this.o.service}: rate limit window exhausted, waiting ${wait} ms before ${method} ${path}`);
      await this.clock.sleep(wait);
      this.pausedUntil = 0; // waited out (a clock that does not move must not make us wait again)
    }
    const qs = query && Object.keys(query).length ? `?${new URLSearchParams(query).toString()}` : '';
    const headers: Record<string, string> = { ...this.o.headers, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let answer: HttpAnswer;
    try {
      const res = await this.fetchImpl(`${this.baseUrl}${path}${qs}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      answer = { status: res.status, headers: res.headers, text: await res.text() };
    } catch (err) {
      const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
        throw new HttpFailure('timeout', null, `${method} ${path} timed out after ${this.timeoutMs} ms`);
      }
      const cause = e?.cause?.code ?? e?.cause?.message;
      throw new HttpFailure(
        'network',
        null,
        this.redactor(`${method} ${path} failed: ${e?.message ?? String(err)}${cause ? ` (${cause})` : ''}`),
      );
    }
    const pause = parseRateLimit(answer.headers.get('ratelimit'));
    if (pause !== undefined) this.pausedUntil = Math.max(this.pausedUntil, this.clock.now().getTime() + pause);
    return answer;
  }

  /** The failure an unwanted answer is: 429 with its wait, 5xx, or any other status; detail from problem+json. */
  failure(r: HttpAnswer, what: string): HttpFailure {
    const problem = parseProblem(r.text);
    const said = problem?.detail ?? problem?.title ?? this.snippet(r.text);
    const message = this.redactor(`${what} answered ${r.status}${said ? `: ${said}` : ''}`);
    const redactedProblem = problem
      ? {
          ...problem,
          detail: problem.detail === undefined ? undefined : this.redactor(problem.detail),
          errors: problem.errors?.map((e) => this.redactor(e)),
        }
      : null;
    if (r.status === 429) {
      const after =
        parseRetryAfter(r.headers.get('retry-after'), this.clock.now()) ?? parseRateLimit(r.headers.get('ratelimit'));
      return new HttpFailure('rate_limited', 429, message, redactedProblem, after);
    }
    if (r.status >= 500) return new HttpFailure('server', r.status, message, redactedProblem);
    return new HttpFailure('status', r.status, message, redactedProblem);
  }

  /** Parses a JSON answer with a schema; an unreadable or unexpected body is an 'invalid' failure. */
  parse<S extends z.ZodType>(schema: S, r: HttpAnswer, what: string): z.infer<S> {
    let json: unknown;
    try {
      json = JSON.parse(r.text);
    } catch {
      throw new HttpFailure(
        'invalid',
        r.status,
        `${what} answered ${r.status} with a body that is not JSON: ${this.snippet(r.text)}`,
      );
    }
    const res = schema.safeParse(json);
    if (!res.success) {
      const issues = res.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
        .join('; ');
      throw new HttpFailure('invalid', r.status, `${what} answered ${r.status} with an unexpected shape: ${issues}`);
    }
    return res.data;
  }

  /**
   * Runs `op` with retries: network errors, timeouts and 5xx with backoff, 429 after its
   * Retry-After (a wait longer than maxRetryAfterMs is not waited: the failure is thrown).
   */
  async retrying<T>(op: (attempt: number) => Promise<T>): Promise<T> {
    let attempts = 0;
    try {
      return await withRetries(
        (attempt) => {
          attempts = attempt;
          return op(attempt);
        },
        {
          policy: this.policy,
          clock: this.clock,
          random: this.random,
          classify: (err) => this.classify(err),
          onRetry: ({ attempt, delayMs, error }) =>
            this.log(
              'warning',
              `${this.o.service} call failed (attempt ${attempt}/${this.policy.maxAttempts}), retrying in ${delayMs} ms: ${(error as Error).message}`,
            ),
        },
      );
    } catch (err) {
      if (err instanceof HttpFailure) err.attempts = attempts;
      throw err;
    }
  }

  private classify(err: unknown): RetryDecision {
    if (!(err instanceof HttpFailure)) return { retry: false };
    if (err.kind === 'rate_limited') {
      if (err.retryAfterMs !== undefined && err.retryAfterMs > this.maxRetryAfterMs) return { retry: false };
      return { retry: true, delayMs: err.retryAfterMs };
    }
    return { retry: AMBIGUOUS.includes(err.kind) };
  }

  snippet(text: string): string {
    const t = this.redactor(text.trim());
    return t.length > 300 ? `${t.slice(0, 300)}…` : t;
  }

  log(level: 'info' | 'warning', message: string): void {
    this.o.log?.(level, this.redactor(message));
  }
}
