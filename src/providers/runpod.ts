import type { z } from 'zod';
import { type Clock, systemClock } from '../clock';
import { makeRedactor } from '../logging/redact';
import { DEFAULT_RETRY_POLICY, parseRetryAfter, type RetryDecision, type RetryPolicy, withRetries } from './http-retry';
import {
  keyFromPodName,
  type PodInfo,
  type PodStatus,
  type Provider,
  ProviderError,
  podName,
  type SpawnRequest,
} from './provider';
import {
  POD_NAME_MAX_LENGTH,
  PORT_PATTERN,
  RUNPOD_CLOUD_TYPES,
  type RunpodCloudType,
  RunpodErrorBodySchema,
  type RunpodPod,
  type RunpodPodCreateInput,
  RunpodPodSchema,
  RunpodPodsSchema,
} from './runpod-schemas';

/** The RunPod REST API v1 (deprecated by RunPod in favour of v2 at https://api.runpod.io/v2). */
export const RUNPOD_DEFAULT_BASE_URL = 'https://rest.runpod.io/v1';

export interface RunpodOptions {
  /** Sent as `Authorization: Bearer <key>`; never appears in errors or logs. */
  apiKey: string;
  /** Default https://rest.runpod.io/v1 (tests point it at the fake API). */
  baseUrl?: string;
  /** Candidate GPU types, in order of preference; spawn tries the next one when RunPod has no capacity. */
  gpuTypeIds: string[];
  /** GPUs per pod (default 1). */
  gpuCount?: number;
  imageName: string;
  /** Unset: RunPod's default (SECURE). */
  cloudType?: RunpodCloudType;
  containerDiskInGb?: number;
  volumeInGb?: number;
  volumeMountPath?: string;
  networkVolumeId?: string;
  /** Extra environment for every worker (values sent as strings); the request's env wins on conflicts. */
  env?: Record<string, string | number | boolean>;
  /** "8888/http", "22/tcp"; unset: RunPod's default. */
  ports?: string[];
  dataCenterIds?: string[];
  /** Spot pods. */
  interruptible?: boolean;
  /** Attempts and backoff for 429s, 5xx answers, network errors and timeouts. */
  retry?: Partial<RetryPolicy>;
  /** A Retry-After longer than this is not waited out: the call fails as 'rate_limited' at once (default 60 s). */
  maxRetryAfterMs?: number;
  /** Per request, wall clock (default 30 s). */
  requestTimeoutMs?: number;
  /** Backoff and Retry-After waits sleep on this clock (default the system clock). */
  clock?: Clock;
  /** Jitter source, in [0, 1) (default Math.random). */
  random?: () => number;
  /** Default the global fetch. */
  fetch?: typeof fetch;
  /** Retries and GPU-type fallbacks, already redacted. */
  log?: (level: 'info' | 'warning', message: string) => void;
}

/** The messages RunPod gives when no machine can take the pod (there is no machine-readable code). */
export const CAPACITY_PATTERNS: readonly RegExp[] = [/no longer any instances available/i, /not enough free gpus/i];
export const isCapacityMessage = (message: string) => CAPACITY_PATTERNS.some((p) => p.test(message));

type FailureKind = 'network' | 'timeout' | 'server' | 'rate_limited' | 'capacity' | 'auth' | 'rejected' | 'invalid';

/** One failed call, classified; internal: it leaves the provider as a ProviderError. */
class RunpodHttpError extends Error {
  attempts = 1;
  constructor(
    readonly kind: FailureKind,
    readonly status: number | null,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RunpodHttpError';
  }
}

/** Failures after which a POST may or may not have created the pod. */
const AMBIGUOUS: readonly FailureKind[] = ['network', 'timeout', 'server'];

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * RunPod pods through the REST API. Every pod is named podName(idempotencyKey), so spawn finds a pod
 * it made before (after a crash, or after an ambiguous create) instead of making a second one.
 *
 * Status mapping (the spec's Pod has no runtime/uptime field): desiredStatus EXITED -> 'exited',
 * TERMINATED -> 'terminated', RUNNING -> 'running', except 'starting' while the pod is still
 * initializing, which the spec defines as publicIp AND portMappings both present and empty. A field
 * that is absent says nothing, so it reads as running. Unknown desiredStatus values read as 'starting'.
 */
export class RunpodProvider implements Provider {
  readonly name = 'runpod';
  get gpusPerWorker(): number {
    return this.opts.gpuCount ?? 1;
  }
  private readonly baseUrl: string;
  private readonly policy: RetryPolicy;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly redactor: (text: string) => string;

  constructor(private readonly opts: RunpodOptions) {
    const problems = validateOptions(opts);
    if (problems.length) throw new Error(`invalid RunPod provider options: ${problems.join('; ')}`);
    this.baseUrl = (opts.baseUrl ?? RUNPOD_DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.policy = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.fetchImpl = opts.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
    const redactKey = makeRedactor([opts.apiKey]);
    this.redactor = (text) => redactKey(text).replace(/(Bearer\s+)[^\s"',;]+/gi, '$1***');
  }

  async spawn(req: SpawnRequest): Promise<PodInfo> {
    const name = podName(req.idempotencyKey);
    if (name.length > POD_NAME_MAX_LENGTH) {
      throw new ProviderError('error', `pod name ${name} is longer than RunPod's ${POD_NAME_MAX_LENGTH} characters`);
    }
    const found = await this.findLive(name).catch((err) => {
      throw this.providerError('look up pod', err);
    });
    if (found) return { ...this.toInfo(found), existing: true };

    const env = this.workerEnv(req);
    const noCapacity: string[] = [];
    for (const gpuTypeId of this.opts.gpuTypeIds) {
      try {
        const { pod, recovered } = await this.create(name, gpuTypeId, env);
        const info = this.toInfo(pod, this.clock.now().toISOString());
        return {
          ...info,
          existing: false,
          details: {
            ...info.details,
            gpuTypeId,
            ...(noCapacity.length ? { noCapacityFor: noCapacity } : {}),
            ...(recovered ? { recoveredAfterUnclearCreate: true } : {}),
          },
        };
      } catch (err) {
        if (err instanceof RunpodHttpError && err.kind === 'capacity') {
          noCapacity.push(gpuTypeId);
          const next = this.opts.gpuTypeIds[noCapacity.length];
          this.log('info', `RunPod has no ${gpuTypeId} for ${name}${next ? `; trying ${next}` : ''}: ${err.message}`);
          continue;
        }
        throw this.providerError(`create pod ${name} (${gpuTypeId})`, err);
      }
    }
    throw new ProviderError(
      'capacity',
      `RunPod has no capacity for ${name}: tried ${noCapacity.map((g) => `"${g}"`).join(', ')} ` +
        `(${this.opts.gpuCount ?? 1}x GPU, ${this.opts.cloudType ?? 'default'} cloud)`,
    );
  }

  async terminate(podId: string): Promise<void> {
    const op = `terminate pod ${podId}`;
    try {
      await this.retrying(async () => {
        const r = await this.send('DELETE', `/pods/${encodeURIComponent(podId)}`);
        // 204 per the spec; 404: already gone, which is what we wanted.
        if (r.status === 204 || r.status === 200 || r.status === 404) return;
        throw this.failureOf(r);
      });
    } catch (err) {
      // The spec's other DELETE answer is 400 "Invalid Pod ID": ask whether the pod still exists.
      if (err instanceof RunpodHttpError && err.kind === 'rejected' && err.status === 400) {
        const pod = await this.getPod(podId);
        if (pod === null || pod.status === 'terminated') return;
      }
      throw this.providerError(op, err);
    }
  }

  /** Every pod whose name carries our prefix; ended pods first, so a map by key keeps the live one. */
  async list(): Promise<PodInfo[]> {
    const pods = await this.getJson('/pods', undefined, RunpodPodsSchema).catch((err) => {
      throw this.providerError('list pods', err);
    });
    const ours = pods.filter((p) => p.name && keyFromPodName(p.name) !== null).map((p) => this.toInfo(p));
    const ended = (s: PodStatus) => s === 'exited' || s === 'terminated' || s === 'failed';
    return [...ours.filter((p) => ended(p.status)), ...ours.filter((p) => !ended(p.status))];
  }

  /** One pod by id (`GET /pods/{podId}`), null when RunPod does not know it. */
  async getPod(podId: string): Promise<PodInfo | null> {
    const op = `get pod ${podId}`;
    try {
      const r = await this.retrying(async () => {
        const res = await this.send('GET', `/pods/${encodeURIComponent(podId)}`);
        if (res.status === 200 || res.status === 404) return res;
        throw this.failureOf(res);
      });
      return r.status === 404 ? null : this.toInfo(this.parse(RunpodPodSchema, r, `GET /pods/${podId}`));
    } catch (err) {
      throw this.providerError(op, err);
    }
  }

  /** A pod with exactly this name that is not exited or terminated (`GET /pods?name=`). */
  private async findLive(name: string): Promise<RunpodPod | undefined> {
    const pods = await this.getJson('/pods', { name }, RunpodPodsSchema);
    return pods.find((p) => p.name === name && p.desiredStatus !== 'EXITED' && p.desiredStatus !== 'TERMINATED');
  }

  /**
   * `POST /pods` for one GPU type, with retries. A retry after an answer that leaves it unclear
   * whether the pod was made (5xx, network error, timeout) first looks the pod up by name; so does
   * a 2xx whose body cannot be read. Either way no second pod is made for one key.
   */
  private async create(
    name: string,
    gpuTypeId: string,
    env: Record<string, string>,
  ): Promise<{ pod: RunpodPod; recovered: boolean }> {
    const body = this.createBody(name, gpuTypeId, env);
    let unclear = false;
    return this.retrying(async () => {
      if (unclear) {
        const found = await this.findLive(name).catch((err) => {
          // Not retried inside this retry loop: stop, the pod may or may not exist.
          throw this.providerError(`confirm whether pod ${name} was created`, err);
        });
        if (found) return { pod: found, recovered: true };
      }
      let r: RawResponse;
      try {
        r = await this.send('POST', '/pods', undefined, body);
      } catch (err) {
        unclear = true;
        throw err;
      }
      if (r.status === 201 || r.status === 200) {
        try {
          return { pod: this.parse(RunpodPodSchema, r, 'POST /pods'), recovered: false };
        } catch (err) {
          const found = await this.findLive(name);
          if (found) return { pod: found, recovered: true };
          throw err;
        }
      }
      const failure = this.failureOf(r);
      unclear = AMBIGUOUS.includes(failure.kind);
      throw failure;
    });
  }

  private createBody(name: string, gpuTypeId: string, env: Record<string, string>): RunpodPodCreateInput {
    const o = this.opts;
    const body: RunpodPodCreateInput = {
      name,
      imageName: o.imageName,
      gpuTypeIds: [gpuTypeId],
      gpuCount: o.gpuCount ?? 1,
      env,
    };
    if (o.cloudType !== undefined) body.cloudType = o.cloudType;
    if (o.containerDiskInGb !== undefined) body.containerDiskInGb = o.containerDiskInGb;
    if (o.volumeInGb !== undefined) body.volumeInGb = o.volumeInGb;
    if (o.volumeMountPath !== undefined) body.volumeMountPath = o.volumeMountPath;
    if (o.networkVolumeId !== undefined) body.networkVolumeId = o.networkVolumeId;
    if (o.ports !== undefined) body.ports = [...o.ports];
    if (o.dataCenterIds !== undefined) body.dataCenterIds = [...o.dataCenterIds];
    if (o.interruptible !== undefined) body.interruptible = o.interruptible;
    return body;
  }

  /** Configured env, then the request's env, then the worker id: all values strings. */
  private workerEnv(req: SpawnRequest): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.opts.env ?? {})) env[k] = String(v);
    for (const [k, v] of Object.entries(req.env ?? {})) env[k] = String(v);
    env.GPU_SCALER_WORKER_ID = req.workerId;
    return env;
  }

  private async getJson<S extends z.ZodType>(
    path: string,
    query: Record<string, string> | undefined,
    schema: S,
  ): Promise<z.infer<S>> {
    const r = await this.retrying(async () => {
      const res = await this.send('GET', path, query);
      if (res.status === 200) return res;
      throw this.failureOf(res);
    });
    return this.parse(schema, r, `GET ${path}`);
  }

  private parse<S extends z.ZodType>(schema: S, r: RawResponse, what: string): z.infer<S> {
    let json: unknown;
    try {
      json = JSON.parse(r.text);
    } catch {
      throw new RunpodHttpError(
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
      throw new RunpodHttpError(
        'invalid',
        r.status,
        `${what} answered ${r.status} with an unexpected shape: ${issues}`,
      );
    }
    return res.data;
  }

  /** One HTTP request; network errors and timeouts are thrown as RunpodHttpError. */
  private async send(
    method: string,
    path: string,
    query?: Record<string, string>,
    body?: unknown,
  ): Promise<RawResponse> {
    const qs = query ? `?${new URLSearchParams(query).toString()}` : '';
    const headers: Record<string, string> = { Authorization: `Bearer ${this.opts.apiKey}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      const res = await this.fetchImpl(`${this.baseUrl}${path}${qs}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      return { status: res.status, headers: res.headers, text: await res.text() };
    } catch (err) {
      const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
        throw new RunpodHttpError('timeout', null, `${method} ${path} timed out after ${this.timeoutMs} ms`);
      }
      const cause = e?.cause?.code ?? e?.cause?.message;
      throw new RunpodHttpError(
        'network',
        null,
        this.redactor(`${method} ${path} failed: ${e?.message ?? String(err)}${cause ? ` (${cause})` : ''}`),
      );
    }
  }

  /** Classifies a non-success answer. */
  private failureOf(r: RawResponse): RunpodHttpError {
    const message = this.errorMessage(r);
    if (r.status === 429) {
      return new RunpodHttpError(
        'rate_limited',
        429,
        message,
        parseRetryAfter(r.headers.get('retry-after'), this.clock.now()),
      );
    }
    if (r.status === 401 || r.status === 402 || r.status === 403) return new RunpodHttpError('auth', r.status, message);
    if (isCapacityMessage(message)) return new RunpodHttpError('capacity', r.status, message);
    if (r.status >= 500) return new RunpodHttpError('server', r.status, message);
    return new RunpodHttpError('rejected', r.status, message);
  }

  private classify(err: unknown): RetryDecision {
    if (!(err instanceof RunpodHttpError)) return { retry: false };
    if (err.kind === 'rate_limited') {
      if (err.retryAfterMs !== undefined && err.retryAfterMs > this.maxRetryAfterMs) return { retry: false };
      return { retry: true, delayMs: err.retryAfterMs };
    }
    return { retry: AMBIGUOUS.includes(err.kind) };
  }

  private async retrying<T>(op: (attempt: number) => Promise<T>): Promise<T> {
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
              `RunPod call failed (attempt ${attempt}/${this.policy.maxAttempts}), retrying in ${delayMs} ms: ${(error as Error).message}`,
            ),
        },
      );
    } catch (err) {
      if (err instanceof RunpodHttpError) err.attempts = attempts;
      throw err;
    }
  }

  /** The ProviderError a failure leaves the provider as; its message never carries the key. */
  private providerError(op: string, err: unknown): ProviderError {
    if (err instanceof ProviderError) return new ProviderError(err.kind, this.redactor(err.message), err.retryAfterMs);
    if (!(err instanceof RunpodHttpError)) {
      return new ProviderError(
        'error',
        this.redactor(`RunPod: ${op} failed: ${(err as Error)?.message ?? String(err)}`),
      );
    }
    const tries = `${err.attempts} attempt${err.attempts === 1 ? '' : 's'}`;
    const said = err.message ? `: ${err.message}` : '';
    let message: string;
    let kind: ProviderError['kind'] = 'error';
    switch (err.kind) {
      case 'auth':
        kind = 'auth';
        message =
          err.status === 401
            ? `RunPod rejected the API key (401 Unauthorized) on ${op}: check RUNPOD_API_KEY${said}`
            : err.status === 402
              ? `RunPod refused to ${op}: insufficient account balance (402 Payment Required); add funds${said}`
              : `RunPod refused to ${op}: the API key has no access (403 Forbidden); check its permissions${said}`;
        break;
      case 'rate_limited': {
        kind = 'rate_limited';
        const after = err.retryAfterMs !== undefined ? `; Retry-After ${Math.ceil(err.retryAfterMs / 1000)} s` : '';
        message = `RunPod rate-limited ${op} (429) after ${tries}${after}${said}`;
        break;
      }
      case 'capacity':
        kind = 'capacity';
        message = `RunPod has no capacity to ${op}${said}`;
        break;
      case 'server':
        message = `RunPod failed to ${op} after ${tries} (HTTP ${err.status})${said}`;
        break;
      case 'network':
      case 'timeout':
        message = `RunPod unreachable to ${op} after ${tries}: ${err.message}`;
        break;
      case 'invalid':
        message = `RunPod gave an invalid answer to ${op}: ${err.message}`;
        break;
      default:
        message = `RunPod rejected ${op} (HTTP ${err.status})${said}`;
    }
    return new ProviderError(kind, this.redactor(message), err.retryAfterMs);
  }

  private errorMessage(r: RawResponse): string {
    let text = r.text;
    try {
      const parsed = RunpodErrorBodySchema.safeParse(JSON.parse(r.text));
      if (parsed.success) {
        const b = parsed.data;
        const parts = [b.error, b.message, b.detail, b.errors]
          .filter((v) => v !== undefined && v !== null && v !== '')
          .map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
        if (parts.length) text = parts.join(' ');
      }
    } catch {
      // not JSON: the text as is
    }
    return this.snippet(text) || `HTTP ${r.status}`;
  }

  private snippet(text: string): string {
    const t = this.redactor(text.trim());
    return t.length > 300 ? `${t.slice(0, 300)}…` : t;
  }

  private toInfo(pod: RunpodPod, fallbackCreatedAt = ''): PodInfo {
    const name = pod.name ?? '';
    const details: Record<string, unknown> = { desiredStatus: pod.desiredStatus };
    if (pod.gpu?.id) details.gpuTypeId = pod.gpu.id;
    const cost = pod.costPerHr == null ? Number.NaN : Number(pod.costPerHr);
    if (Number.isFinite(cost)) details.costPerHr = cost;
    if (pod.machineId) details.machineId = pod.machineId;
    return {
      podId: pod.id,
      name,
      workerId: workerIdOf(pod),
      idempotencyKey: keyFromPodName(name),
      status: podStatusOf(pod),
      createdAt: normalizeTimestamp(pod.createdAt) ?? normalizeTimestamp(pod.lastStartedAt) ?? fallbackCreatedAt,
      details,
    };
  }

  private log(level: 'info' | 'warning', message: string): void {
    this.opts.log?.(level, this.redactor(message));
  }
}

/** PodInfo status of a RunPod pod (see the class comment). */
export function podStatusOf(pod: Pick<RunpodPod, 'desiredStatus' | 'publicIp' | 'portMappings'>): PodStatus {
  switch (pod.desiredStatus) {
    case 'RUNNING':
      return isInitializing(pod) ? 'starting' : 'running';
    case 'EXITED':
      return 'exited';
    case 'TERMINATED':
      return 'terminated';
    default:
      return 'starting';
  }
}

const isEmpty = (v: unknown) =>
  v === null || v === '' || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);

function isInitializing(pod: Pick<RunpodPod, 'publicIp' | 'portMappings'>): boolean {
  return (
    pod.publicIp !== undefined && pod.portMappings !== undefined && isEmpty(pod.publicIp) && isEmpty(pod.portMappings)
  );
}

function workerIdOf(pod: RunpodPod): string | null {
  const env = pod.env;
  if (Array.isArray(env)) {
    const hit = env.find((e) => typeof e === 'string' && e.startsWith('GPU_SCALER_WORKER_ID='));
    return typeof hit === 'string' ? hit.slice('GPU_SCALER_WORKER_ID='.length) : null;
  }
  const v = env?.GPU_SCALER_WORKER_ID;
  return typeof v === 'string' ? v : null;
}

/** ISO 8601 from RunPod's timestamps, including the "2026-08-20 06:16:19.436 +0000 UTC" form; null if unreadable. */
export function normalizeTimestamp(value: string | null | undefined): string | null {
  if (!value) return null;
  const v = value.trim();
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(?:Z|\+0000|\+00:00)?(?:\s*UTC)?$/.exec(v);
  const t = Date.parse(m ? `${m[1]}T${m[2]}Z` : v);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

function validateOptions(o: RunpodOptions): string[] {
  const problems: string[] = [];
  const posInt = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min;
  if (typeof o.apiKey !== 'string' || o.apiKey.trim() === '') problems.push('apiKey is required (RUNPOD_API_KEY)');
  if (!Array.isArray(o.gpuTypeIds) || o.gpuTypeIds.length === 0 || o.gpuTypeIds.some((g) => !g?.trim())) {
    problems.push('gpuTypeIds must list at least one GPU type id (RUNPOD_GPU_TYPE_IDS)');
  }
  if (typeof o.imageName !== 'string' || o.imageName.trim() === '')
    problems.push('imageName is required (RUNPOD_IMAGE_NAME)');
  if (o.gpuCount !== undefined && !posInt(o.gpuCount, 1))
    problems.push(`gpuCount must be a whole number >= 1, not ${o.gpuCount}`);
  if (o.cloudType !== undefined && !RUNPOD_CLOUD_TYPES.includes(o.cloudType)) {
    problems.push(`cloudType must be one of ${RUNPOD_CLOUD_TYPES.join(', ')}, not ${JSON.stringify(o.cloudType)}`);
  }
  for (const k of ['containerDiskInGb', 'volumeInGb'] as const) {
    if (o[k] !== undefined && !posInt(o[k], 0)) problems.push(`${k} must be a whole number >= 0, not ${o[k]}`);
  }
  for (const p of o.ports ?? []) {
    if (!PORT_PATTERN.test(p)) problems.push(`port ${JSON.stringify(p)} is not "<number>/http" or "<number>/tcp"`);
  }
  if (o.baseUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(o.baseUrl))
    problems.push('baseUrl must be an http(s) URL');
  if (o.retry?.maxAttempts !== undefined && !posInt(o.retry.maxAttempts, 1))
    problems.push('retry.maxAttempts must be >= 1');
  if (o.requestTimeoutMs !== undefined && !(o.requestTimeoutMs > 0)) problems.push('requestTimeoutMs must be > 0');
  return problems;
}

/** The provider from plain options (what system.ts's makeProvider calls for PROVIDER=runpod). */
export function makeRunpodProvider(options: RunpodOptions): RunpodProvider {
  return new RunpodProvider(options);
}

/** "a, b ,c" -> ["a", "b", "c"]: for comma-separated settings (GPU types, ports, data centers). */
export function splitList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
}

/** A JSON object of worker env vars ('{"HF_HOME":"/workspace/hf"}'); values become strings. */
export function parseWorkerEnv(value: string | undefined): Record<string, string> | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new Error('RUNPOD_WORKER_ENV must be a JSON object of strings, e.g. {"KEY":"value"}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error('RUNPOD_WORKER_ENV must be a JSON object of strings, e.g. {"KEY":"value"}');
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (v === null || typeof v === 'object')
      throw new Error(`RUNPOD_WORKER_ENV.${k} must be a string, number or boolean`);
    env[k] = String(v);
  }
  return env;
}
