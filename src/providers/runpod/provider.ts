import { type Clock, systemClock } from '../../clock';
import { CapacityBackoff, type CapacityBackoffPolicy, type CapacityBackoffState } from '../capacity-backoff';
import { type HttpAnswer, HttpFailure, HttpTransport, nextLink } from '../http/transport';
import type { RetryPolicy } from '../http-retry';
import {
  keyFromPodName,
  type PodInfo,
  type PodStatus,
  type Provider,
  ProviderError,
  podName,
  type SpawnRequest,
  type WorkerQuote,
} from '../provider';
import {
  type CreatePodRequest,
  type NetworkMount,
  type PersistentMount,
  POD_NAME_MAX_LENGTH,
  type RunpodCloud,
  RunpodGpuCatalogSchema,
  type RunpodGpuType,
  type RunpodPod,
  RunpodPodListSchema,
  RunpodPodSchema,
} from './schemas';

/** The RunPod REST API v2. */
export const RUNPOD_DEFAULT_BASE_URL = 'https://api.runpod.io/v2';

export interface RunpodOptions {
  /** Sent as `Authorization: Bearer <key>`; never appears in errors or logs. */
  apiKey: string;
  /** Default https://api.runpod.io/v2 (tests point it at the fake API). */
  baseUrl?: string;
  /** GPU types in order of preference: each is a separate create (v2 places one type per request). */
  gpuTypeIds: string[];
  /** GPUs per pod (default 1). */
  gpuCount?: number;
  /** Required unless templateId is set. */
  image?: string;
  templateId?: string;
  /** Unset: not sent (RunPod's default, SECURE); prices are read for SECURE then. */
  cloud?: RunpodCloud;
  /** Data centers in order of preference; each (GPU type, data center) is one candidate. */
  dataCenterIds?: string[];
  /** Extra environment for every worker; the request's env wins on conflicts. */
  env?: Record<string, string>;
  ports?: string[];
  /** Container disk, GB. */
  disk?: number;
  args?: string;
  /** Registry credential id. */
  registry?: string;
  persistentMount?: PersistentMount;
  networkMount?: NetworkMount;
  allowedCudaVersions?: string[];
  minCudaVersion?: string;
  retry?: Partial<RetryPolicy>;
  maxRetryAfterMs?: number;
  requestTimeoutMs?: number;
  /** The catalog is read at most once per this many ms (default 20 s). */
  catalogTtlMs?: number;
  /**
   * How long after an unanswered create the pod is looked for by name before a create is sent
   * again (default 15 s): RunPod does not document how soon `GET /pods` lists a new pod.
   */
  listLagMs?: number;
  /**
   * A candidate with no capacity (no stock, or a create it could not place) is not tried again for
   * this long, doubling with each failure in a row up to the max, reset by a success (default 30 s
   * and 10 min).
   */
  capacityBackoff?: CapacityBackoffPolicy;
  /** Pages of `GET /pods` followed at most (default 50). */
  maxListPages?: number;
  clock?: Clock;
  random?: () => number;
  fetch?: typeof fetch;
  log?: (level: 'info' | 'warning', message: string) => void;
}

type CandidateOutcome = 'no_stock' | 'rejected' | 'over_budget' | 'backing_off';

/** One place a pod could go: a GPU type, in one data center or anywhere. */
export interface Candidate {
  gpuTypeId: string;
  dataCenterId: string | null;
  /** USD per hour for the whole pod (per-GPU price x gpuCount); null when the catalog did not say. */
  hourlyCostUsd: number | null;
  /** Set when the catalog already rules it out. */
  skip: { outcome: 'no_stock'; detail: string } | null;
}

interface CandidateReport {
  gpuTypeId: string;
  dataCenterId: string | null;
  outcome: CandidateOutcome;
  detail: string;
}

const API_RETIRED_HINT = `set RUNPOD_API_URL=${RUNPOD_DEFAULT_BASE_URL} (or unset it)`;

/**
 * RunPod pods through REST API v2. Every pod is named podName(idempotencyKey), so spawn finds a pod
 * it made before (after a crash, or after an ambiguous create) instead of making a second one; v2's
 * list has no name filter, so the match is made on the full list.
 *
 * Placement: v2 places one GPU type per create and never falls back, so spawn builds candidates
 * (GPU type x data center, in the configured order), drops those the catalog shows without stock or
 * above the spawn's price limit, and tries creates in order until one answers 201; a 400 means that
 * candidate could not be placed and the next is tried.
 *
 * Status mapping: PROVISIONING, STARTING -> starting; RUNNING -> running; EXITED -> exited;
 * ERROR -> failed; TERMINATED (or 404) -> terminated; unknown -> starting.
 */
export class RunpodProvider implements Provider {
  readonly name = 'runpod';
  private readonly http: HttpTransport;
  private readonly clock: Clock;
  private catalog: { at: number; gpus: RunpodGpuType[] | null } | null = null;
  private readonly backoff: CapacityBackoff;

  constructor(private readonly opts: RunpodOptions) {
    const problems = validateOptions(opts);
    if (problems.length) throw new Error(`invalid RunPod provider options: ${problems.join('; ')}`);
    this.clock = opts.clock ?? systemClock;
    this.backoff = new CapacityBackoff(opts.capacityBackoff ?? { baseMs: 30_000, maxMs: 600_000 });
    this.http = new HttpTransport({
      baseUrl: opts.baseUrl ?? RUNPOD_DEFAULT_BASE_URL,
      headers: { Authorization: `Bearer ${opts.apiKey}` },
      secrets: [opts.apiKey],
      retry: opts.retry,
      maxRetryAfterMs: opts.maxRetryAfterMs,
      timeoutMs: opts.requestTimeoutMs,
      clock: this.clock,
      random: opts.random,
      fetch: opts.fetch,
      log: opts.log,
      service: 'RunPod',
    });
  }

  get gpusPerWorker(): number {
    return this.opts.gpuCount ?? 1;
  }

  private get cloud(): RunpodCloud {
    return this.opts.cloud ?? 'SECURE';
  }

  async quote(): Promise<WorkerQuote> {
    const candidates = await this.candidates();
    const prices = candidates
      .filter((c) => c.skip === null && c.hourlyCostUsd !== null)
      .map((c) => c.hourlyCostUsd ?? Number.POSITIVE_INFINITY);
    return { gpus: this.gpusPerWorker, hourlyCostUsd: prices.length ? Math.min(...prices) : null };
  }

  async spawn(req: SpawnRequest): Promise<PodInfo> {
    const name = podName(req.idempotencyKey);
    if (name.length > POD_NAME_MAX_LENGTH) {
      throw new ProviderError('error', `pod name ${name} is longer than ${POD_NAME_MAX_LENGTH} characters`);
    }
    // A spawn requested before and never answered (a restart after a crash mid-create): its pod may
    // exist and not be listed yet, so it is looked for over what is left of the window first.
    const age = req.unresolvedCreateAgeMs;
    const left = age === undefined ? 0 : this.requestTimeoutMs + this.listLagMs - Math.max(0, age);
    let found: RunpodPod | undefined;
    if (left > 0) {
      await req.onStep?.({
        step: 'looking',
        attempt: 0,
        lookSec: secs(left),
        detail: `a create for ${name} may have been sent ${secs(age ?? 0)} s ago and never answered: looking for the pod by name for ${secs(left)} s before creating one`,
      });
      found = await this.lookFor(name, left, 0, req);
    } else {
      found = await this.findLive(name).catch((err) => {
        throw this.providerError('look up pod', err);
      });
    }
    if (found) return { ...this.toInfo(found), existing: true };

    const env = this.workerEnv(req);
    const reports: CandidateReport[] = [];
    for (const c of await this.candidates()) {
      const where = describe(c);
      const key = candidateKey(c);
      const now = this.clock.now();
      const waiting = this.backoff.backingOff(key, now);
      if (waiting) {
        reports.push({
          gpuTypeId: c.gpuTypeId,
          dataCenterId: c.dataCenterId,
          outcome: 'backing_off',
          detail: `no capacity ${times(waiting.failures)} in a row; not tried before ${waiting.until.toISOString()}`,
        });
        continue;
      }
      if (c.skip) {
        reports.push({ gpuTypeId: c.gpuTypeId, dataCenterId: c.dataCenterId, ...c.skip });
        this.backoff.failed(key, now);
        continue;
      }
      if (req.maxHourlyCostUsd !== undefined && c.hourlyCostUsd !== null && c.hourlyCostUsd > req.maxHourlyCostUsd) {
        reports.push({
          gpuTypeId: c.gpuTypeId,
          dataCenterId: c.dataCenterId,
          outcome: 'over_budget',
          detail: `$${c.hourlyCostUsd.toFixed(2)}/h is above the $${req.maxHourlyCostUsd.toFixed(2)}/h left`,
        });
        continue;
      }
      try {
        const { pod, recovered } = await this.create(name, c, env, req);
        this.backoff.succeeded(key);
        const info = this.toInfo(pod, c.hourlyCostUsd, this.clock.now().toISOString());
        return {
          ...info,
          existing: false,
          details: {
            ...info.details,
            gpuTypeId: c.gpuTypeId,
            ...(c.dataCenterId ? { dataCenterId: c.dataCenterId } : {}),
            ...(reports.length ? { candidatesPassed: reports } : {}),
            ...(recovered ? { recoveredAfterUnclearCreate: true } : {}),
          },
        };
      } catch (err) {
        if (err instanceof HttpFailure && err.kind === 'status' && err.status === 400) {
          const detail = err.problem?.detail ?? err.message;
          reports.push({ gpuTypeId: c.gpuTypeId, dataCenterId: c.dataCenterId, outcome: 'rejected', detail });
          this.backoff.failed(key, this.clock.now());
          this.http.log('info', `RunPod could not place ${name} on ${where}: ${detail}`);
          continue;
        }
        throw this.providerError(`create pod ${name} (${where})`, err, true);
      }
    }
    // the candidates are in `details` (rendered once, by src/reactor/placement.ts), not in the message
    throw new ProviderError(
      'capacity',
      this.http.redact(
        `RunPod could not place ${name} (${this.gpusPerWorker}x GPU, ${this.cloud} cloud): ${reports.length ? `none of ${reports.length} candidate(s) could take it` : 'no candidates'}`,
      ),
      undefined,
      { candidates: reports.map((r) => ({ ...r, detail: this.http.redact(r.detail) })) },
    );
  }

  /** Every candidate (GPU type x data center, as configured) backing off after capacity failures. */
  capacityBackoff(): CapacityBackoffState | null {
    const dcs = this.opts.dataCenterIds?.length ? this.opts.dataCenterIds : [null];
    const keys = this.opts.gpuTypeIds.flatMap((g) => dcs.map((dc) => candidateKey({ gpuTypeId: g, dataCenterId: dc })));
    const all = this.backoff.all(keys, this.clock.now());
    if (!all) return null;
    return {
      until: all.until.toISOString(),
      why: all.each.map(([k, b]) => `${k}: no capacity ${times(b.failures)} in a row`).join('; '),
    };
  }

  async terminate(podId: string): Promise<void> {
    try {
      await this.http.retrying(async () => {
        const r = await this.http.send('DELETE', `/pods/${encodeURIComponent(podId)}`);
        // 204 per the spec; 404: already gone, which is what we wanted.
        if (r.status === 204 || r.status === 200 || r.status === 404) return;
        throw this.http.failure(r, `DELETE /pods/${podId}`);
      });
    } catch (err) {
      throw this.providerError(`terminate pod ${podId}`, err);
    }
  }

  /**
   * Parks a pod: `POST /pods/{id}/action {"action":"stop"}` (v2's podAction). The GPU is released and
   * no longer billed; the disk stays (billed) and the pod goes to EXITED. A 409 (the action is not
   * valid in the pod's status) is fine when the pod is already EXITED: a stop sent again after a crash.
   */
  async park(podId: string): Promise<void> {
    const r = await this.action(podId, 'stop');
    if (r.status === 200) return;
    if (r.status === 409) {
      const pod = await this.getPod(podId);
      if (pod?.status === 'exited') return;
      throw new ProviderError(
        'error',
        `RunPod refused to stop pod ${podId} (409): it is ${pod ? String(pod.details?.status ?? pod.status) : 'gone'}`,
      );
    }
    throw new ProviderError('error', `RunPod: stop pod ${podId}: pod not found (404)`);
  }

  /**
   * Starts a parked pod: `POST /pods/{id}/action {"action":"start"}`. A stopped pod stays on its
   * host, so RunPod answers 400 (not enough free GPUs on the host machine) when that host is full:
   * a 'capacity' ProviderError, as is a pod that is gone (404) or comes back with no GPU. A 409 is
   * fine when the pod is already starting or running (a start sent again after a crash).
   */
  async unpark(podId: string): Promise<PodInfo> {
    const what = `POST /pods/${podId}/action start`;
    const r = await this.action(podId, 'start');
    let pod: PodInfo | null;
    if (r.status === 200) {
      try {
        pod = this.toInfo(this.http.parse(RunpodPodSchema, r, what));
      } catch (err) {
        throw this.providerError(`start pod ${podId}`, err);
      }
    } else if (r.status === 409) {
      pod = await this.getPod(podId);
      if (!pod || (pod.status !== 'starting' && pod.status !== 'running'))
        throw new ProviderError(
          'error',
          `RunPod refused to start pod ${podId} (409): it is ${pod ? String(pod.details?.status ?? pod.status) : 'gone'}`,
        );
    } else if (r.status === 404) {
      throw new ProviderError('capacity', `RunPod: start pod ${podId}: pod not found (404)`);
    } else {
      throw new ProviderError(
        'capacity',
        `RunPod refused to start pod ${podId}: ${this.http.failure(r, what).message}`,
      );
    }
    if (pod.gpuCount === 0)
      throw new ProviderError('capacity', `RunPod started pod ${podId} without its GPUs (gpu.count 0)`);
    return pod;
  }

  /** One podAction call; 200, 404, 409 (and 400 to a start: refused) are answers, anything else a failure. */
  private async action(podId: string, action: 'start' | 'stop'): Promise<HttpAnswer> {
    const what = `POST /pods/${podId}/action ${action}`;
    try {
      return await this.http.retrying(async () => {
        const res = await this.http.send('POST', `/pods/${encodeURIComponent(podId)}/action`, undefined, { action });
        if ([200, 404, 409].includes(res.status) || (res.status === 400 && action === 'start')) return res;
        throw this.http.failure(res, what);
      });
    } catch (err) {
      throw this.providerError(`${action} pod ${podId}`, err);
    }
  }

  /** Every pod whose name carries our prefix; ended pods first, so a map by key keeps the live one. */
  async list(): Promise<PodInfo[]> {
    const pods = await this.allPods().catch((err) => {
      throw this.providerError('list pods', err);
    });
    const ours = pods.filter((p) => p.name && keyFromPodName(p.name) !== null).map((p) => this.toInfo(p));
    const ended = (s: PodStatus) => s === 'exited' || s === 'terminated' || s === 'failed';
    return [...ours.filter((p) => ended(p.status)), ...ours.filter((p) => !ended(p.status))];
  }

  /** Every pod of the account, ours or not (shadow mode and `adopt`); ended pods first, as list(). */
  async listAll(): Promise<PodInfo[]> {
    const pods = await this.allPods().catch((err) => {
      throw this.providerError('list pods', err);
    });
    const all = pods.map((p) => this.toInfo(p));
    const ended = (s: PodStatus) => s === 'exited' || s === 'terminated' || s === 'failed';
    return [...all.filter((p) => ended(p.status)), ...all.filter((p) => !ended(p.status))];
  }

  /** One pod by id (`GET /pods/{id}`), null when RunPod does not know it. */
  async getPod(podId: string): Promise<PodInfo | null> {
    try {
      const r = await this.http.retrying(async () => {
        const res = await this.http.send('GET', `/pods/${encodeURIComponent(podId)}`);
        if (res.status === 200 || res.status === 404) return res;
        throw this.http.failure(res, `GET /pods/${podId}`);
      });
      return r.status === 404 ? null : this.toInfo(this.http.parse(RunpodPodSchema, r, `GET /pods/${podId}`));
    } catch (err) {
      throw this.providerError(`get pod ${podId}`, err);
    }
  }

  /**
   * The placement candidates, in the operator's order (GPU types, then data centers), from the
   * catalog read at most once per TTL. A catalog that cannot be read leaves every candidate to try,
   * prices unknown.
   */
  async candidates(): Promise<Candidate[]> {
    const gpus = await this.readCatalog();
    const byId = new Map((gpus ?? []).map((g) => [g.id, g]));
    const out: Candidate[] = [];
    for (const gpuTypeId of this.opts.gpuTypeIds) {
      const g = byId.get(gpuTypeId);
      const perGpu = g?.price ? (this.cloud === 'SECURE' ? g.price.secure : g.price.community) : null;
      const hourlyCostUsd = typeof perGpu === 'number' && perGpu > 0 ? round(perGpu * this.gpusPerWorker) : null;
      const dcs = this.opts.dataCenterIds ?? [];
      if (dcs.length === 0) {
        const none = gpus !== null && g?.availability === 'NONE';
        out.push({
          gpuTypeId,
          dataCenterId: null,
          hourlyCostUsd,
          skip: none ? { outcome: 'no_stock', detail: 'the catalog shows availability NONE' } : null,
        });
        continue;
      }
      for (const dc of dcs) {
        const level = g?.dataCenters?.find((d) => d.id === dc)?.availability;
        let skip: Candidate['skip'] = null;
        if (gpus !== null && (level === undefined || level === 'NONE')) {
          skip = {
            outcome: 'no_stock',
            detail: level === 'NONE' ? 'the catalog shows availability NONE' : 'not offered there per the catalog',
          };
        }
        out.push({ gpuTypeId, dataCenterId: dc, hourlyCostUsd, skip });
      }
    }
    return out;
  }

  /** `GET /catalog/gpus?include=AVAILABILITY&product=POD&count=&cloud=`, cached; null when unreadable. */
  private async readCatalog(): Promise<RunpodGpuType[] | null> {
    const now = this.clock.now().getTime();
    if (this.catalog && now - this.catalog.at < (this.opts.catalogTtlMs ?? 20_000)) return this.catalog.gpus;
    const query = {
      include: 'AVAILABILITY',
      product: 'POD',
      count: String(this.gpusPerWorker),
      cloud: this.cloud,
    };
    let gpus: RunpodGpuType[] | null;
    try {
      const r = await this.http.retrying(async () => {
        const res = await this.http.send('GET', '/catalog/gpus', query);
        if (res.status === 200) return res;
        throw this.http.failure(res, 'GET /catalog/gpus');
      });
      gpus = this.http.parse(RunpodGpuCatalogSchema, r, 'GET /catalog/gpus').gpus;
    } catch (err) {
      const e = this.providerError('read the GPU catalog', err);
      if (e.kind === 'api_retired' || e.kind === 'auth') throw e;
      this.http.log('warning', `${e.message}; trying the configured GPU types in order, prices unknown`);
      gpus = null;
    }
    this.catalog = { at: now, gpus };
    return gpus;
  }

  /** Every pod, following a cursor (body `nextCursor`/`cursor` or Link rel="next") for a bounded number of pages. */
  private async allPods(): Promise<RunpodPod[]> {
    const pods: RunpodPod[] = [];
    let cursor: string | null = null;
    const maxPages = this.opts.maxListPages ?? 50;
    for (let page = 1; ; page++) {
      const query: Record<string, string> = cursor ? { cursor } : {};
      const r = await this.http.retrying(async () => {
        const res = await this.http.send('GET', '/pods', query);
        if (res.status === 200) return res;
        throw this.http.failure(res, 'GET /pods');
      });
      const body = this.http.parse(RunpodPodListSchema, r, 'GET /pods');
      pods.push(...body.pods);
      const next = body.nextCursor ?? body.cursor ?? cursorOfLink(nextLink(r.headers.get('link')));
      if (!next || next === cursor) return pods;
      if (page >= maxPages) {
        throw new HttpFailure('invalid', r.status, `GET /pods still had more pages after ${maxPages}; stopped`);
      }
      cursor = next;
    }
  }

  /** A pod with exactly this name that has not ended. */
  private async findLive(name: string): Promise<RunpodPod | undefined> {
    const pods = await this.allPods();
    return pods.find((p) => p.name === name && !['EXITED', 'ERROR', 'TERMINATED'].includes(p.status));
  }

  /** A pod may be missing from the list until its create's answer and the list's lag have passed. */
  get listGraceMs(): number {
    return this.requestTimeoutMs + this.listLagMs;
  }

  private get requestTimeoutMs(): number {
    return this.opts.requestTimeoutMs ?? 30_000;
  }

  private get listLagMs(): number {
    return this.opts.listLagMs ?? 15_000;
  }

  /**
   * `POST /pods` for one candidate, with retries. A create left unanswered (no answer, a timeout, a
   * 5xx, a 201 that cannot be read) may have made the pod, and the list may show it only later: the
   * pod is looked for by name for RUNPOD_LIST_LAG_SEC, and a create is sent again only after that
   * window passed with no such pod listed. Each step goes to `req.onStep` (recorded as events).
   */
  private async create(
    name: string,
    c: Candidate,
    env: Record<string, string>,
    req: SpawnRequest,
  ): Promise<{ pod: RunpodPod; recovered: boolean }> {
    const body = this.createBody(name, c, env);
    let attempt = 0;
    const unanswered = async (why: string): Promise<RunpodPod | undefined> => {
      await req.onStep?.({
        step: 'unanswered',
        attempt,
        lookSec: secs(this.listLagMs),
        detail: `create attempt ${attempt} for ${name} on ${describe(c)} got no clear answer (${why}): the pod may exist; looking for it by name for ${secs(this.listLagMs)} s before creating again`,
      });
      return this.lookFor(name, this.listLagMs, attempt, req);
    };
    return this.http.retrying(async () => {
      attempt += 1;
      let r: Awaited<ReturnType<HttpTransport['send']>>;
      try {
        r = await this.http.send('POST', '/pods', undefined, body);
      } catch (err) {
        const found = await unanswered(this.http.redact((err as Error).message));
        if (found) return { pod: found, recovered: true };
        throw err;
      }
      if (r.status === 201 || r.status === 200) {
        try {
          return { pod: this.http.parse(RunpodPodSchema, r, 'POST /pods'), recovered: false };
        } catch (err) {
          const found = await unanswered(`an unreadable ${r.status}`);
          if (found) return { pod: found, recovered: true };
          throw err;
        }
      }
      const failure = this.http.failure(r, 'POST /pods');
      if (failure.kind === 'server') {
        const found = await unanswered(`HTTP ${r.status}`);
        if (found) return { pod: found, recovered: true };
      }
      throw failure;
    });
  }

  /**
   * Looks for a live pod named `name` for up to `windowMs` (a list now, then every few seconds).
   * Reports `found` or `not_listed`; when no list could be read at all it throws, since it cannot
   * tell whether the pod exists (a create sent then could make a second one).
   */
  private async lookFor(
    name: string,
    windowMs: number,
    attempt: number,
    req: SpawnRequest,
  ): Promise<RunpodPod | undefined> {
    const every = Math.max(250, Math.min(2_000, windowMs / 5));
    let waited = 0;
    let lastError: unknown = null;
    let listed = false;
    for (;;) {
      try {
        const found = await this.findLive(name);
        listed = true;
        if (found) {
          await req.onStep?.({
            step: 'found',
            attempt,
            lookSec: 0,
            detail: `pod ${found.id} named ${name} is listed${waited ? ` after ${secs(waited)} s` : ''}: no second create`,
          });
          return found;
        }
      } catch (err) {
        lastError = err;
      }
      if (waited >= windowMs) break;
      const step = Math.min(every, windowMs - waited);
      await this.clock.sleep(step);
      waited += step;
    }
    if (!listed) {
      const e = this.providerError('list pods', lastError);
      throw new ProviderError(
        e.kind,
        `${e.message}; whether pod ${name} was made cannot be told, so it is not created again`,
        e.retryAfterMs,
      );
    }
    await req.onStep?.({
      step: 'not_listed',
      attempt,
      lookSec: 0,
      detail: `no pod named ${name} was listed within ${secs(windowMs)} s: ${attempt > 0 ? 'the create did not make one' : 'none was made'}`,
    });
    return undefined;
  }

  /** The CreatePodRequest for one candidate: only fields the spec names, only those configured. */
  createBody(
    name: string,
    c: Pick<Candidate, 'gpuTypeId' | 'dataCenterId'>,
    env: Record<string, string>,
  ): CreatePodRequest {
    const o = this.opts;
    const gpu: CreatePodRequest['gpu'] = { id: c.gpuTypeId, count: this.gpusPerWorker };
    if (o.allowedCudaVersions?.length) gpu.allowedCudaVersions = [...o.allowedCudaVersions];
    if (o.minCudaVersion !== undefined) gpu.minCudaVersion = o.minCudaVersion;
    const body: CreatePodRequest = { name, gpu, env };
    if (o.image !== undefined) body.image = o.image;
    if (o.templateId !== undefined) body.templateId = o.templateId;
    if (o.cloud !== undefined) body.cloud = o.cloud;
    if (c.dataCenterId !== null) body.dataCenterIds = [c.dataCenterId];
    if (o.ports !== undefined) body.ports = [...o.ports];
    if (o.disk !== undefined) body.disk = o.disk;
    if (o.args !== undefined) body.args = o.args;
    if (o.registry !== undefined) body.registry = o.registry;
    if (o.persistentMount) body.mounts = { persistent: { ...o.persistentMount } };
    else if (o.networkMount) body.mounts = { network: [{ ...o.networkMount }] };
    return body;
  }

  /** Configured env, then the request's env, then the worker id: all values strings. */
  private workerEnv(req: SpawnRequest): Record<string, string> {
    const env: Record<string, string> = { ...this.opts.env };
    for (const [k, v] of Object.entries(req.env ?? {})) env[k] = String(v);
    env.GPU_SCALER_WORKER_ID = req.workerId;
    return env;
  }

  /** The ProviderError a failure leaves the provider as; its message never carries the key. */
  private providerError(op: string, err: unknown, creating = false): ProviderError {
    if (err instanceof ProviderError) return err;
    if (!(err instanceof HttpFailure)) {
      return new ProviderError(
        'error',
        this.http.redact(`RunPod: ${op} failed: ${(err as Error)?.message ?? String(err)}`),
      );
    }
    const tries = `${err.attempts} attempt${err.attempts === 1 ? '' : 's'}`;
    const detail = err.problem?.detail ?? err.problem?.title;
    const said = detail ? `: ${detail}` : '';
    const status = err.status;
    let kind: ProviderError['kind'] = 'error';
    let message: string;
    if (err.kind === 'status' && status === 410) {
      kind = 'api_retired';
      message = `RunPod answered 410 Gone to ${op}: RunPod retired REST v1; ${API_RETIRED_HINT}${said}`;
    } else if (err.kind === 'status' && status === 401) {
      kind = 'auth';
      message = `RunPod rejected the API key (401 Unauthorized) on ${op}: check RUNPOD_API_KEY${said}`;
    } else if (err.kind === 'status' && status === 403) {
      kind = 'auth';
      message = `RunPod refused to ${op}: the API key has no access (403 Forbidden); check its permissions${said}`;
    } else if (err.kind === 'status' && status === 402) {
      kind = 'billing';
      message = `RunPod refused to ${op}: payment required (402); add funds to the account${said}`;
    } else if (err.kind === 'status' && status === 422) {
      kind = 'invalid_request';
      const fields = err.problem?.errors?.length ? err.problem.errors.join('; ') : (detail ?? 'no detail given');
      message =
        `RunPod rejected ${op} as invalid (422): ${fields}. This is a bug in gpu-scaler or a RUNPOD_* setting ` +
        `RunPod does not accept; not retried`;
    } else if (err.kind === 'status' && status === 404 && creating) {
      kind = 'invalid_request';
      message = `RunPod answered 404 to ${op}: the template was not found; check RUNPOD_TEMPLATE_ID${said}`;
    } else if (err.kind === 'rate_limited') {
      kind = 'rate_limited';
      const after = err.retryAfterMs !== undefined ? `; Retry-After ${Math.ceil(err.retryAfterMs / 1000)} s` : '';
      message = `RunPod rate-limited ${op} (429) after ${tries}${after}${said}`;
    } else if (err.kind === 'server') {
      message = `RunPod failed to ${op} after ${tries} (HTTP ${status})${said}`;
    } else if (err.kind === 'network' || err.kind === 'timeout') {
      message = `RunPod unreachable to ${op} after ${tries}: ${err.message}`;
    } else if (err.kind === 'invalid') {
      message = `RunPod gave an invalid answer to ${op}: ${err.message}`;
    } else {
      message = `RunPod rejected ${op} (HTTP ${status})${said}`;
    }
    return new ProviderError(kind, this.http.redact(message), err.retryAfterMs);
  }

  private toInfo(pod: RunpodPod, catalogPrice: number | null = null, fallbackCreatedAt = ''): PodInfo {
    const name = pod.name ?? '';
    const details: Record<string, unknown> = { status: pod.status };
    if (pod.gpu?.id) details.gpuTypeId = pod.gpu.id;
    if (pod.dataCenterId) details.dataCenterId = pod.dataCenterId;
    const cost = typeof pod.cost === 'number' && pod.cost > 0 ? pod.cost : null;
    const hourlyCostUsd = cost ?? catalogPrice;
    if (hourlyCostUsd !== null) details.costPerHr = hourlyCostUsd;
    const env = pod.env?.GPU_SCALER_WORKER_ID;
    return {
      podId: pod.id,
      name,
      workerId: typeof env === 'string' ? env : null,
      idempotencyKey: keyFromPodName(name),
      status: podStatusOf(pod.status),
      createdAt: isoOrNull(pod.createdAt) ?? isoOrNull(pod.startedAt) ?? fallbackCreatedAt,
      details,
      gpuCount: typeof pod.gpu?.count === 'number' ? pod.gpu.count : this.gpusPerWorker,
      hourlyCostUsd,
    };
  }
}

/** PodInfo status of a v2 PodStatus (see the class comment). */
export function podStatusOf(status: string): PodStatus {
  switch (status) {
    case 'RUNNING':
      return 'running';
    case 'EXITED':
      return 'exited';
    case 'ERROR':
      return 'failed';
    case 'TERMINATED':
      return 'terminated';
    default:
      return 'starting';
  }
}

const round = (v: number) => Math.round(v * 10_000) / 10_000;
const secs = (ms: number) => Math.round(ms / 100) / 10;

function isoOrNull(value: string | null | undefined): string | null {
  if (!value) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/** A candidate's backoff key, as the operator reads it: `NVIDIA A40 in EU-RO-1`. */
const candidateKey = (c: { gpuTypeId: string; dataCenterId: string | null }) => describe(c);

const times = (n: number) => (n === 1 ? 'once' : `${n} times`);

function describe(c: { gpuTypeId: string; dataCenterId: string | null }): string {
  return c.dataCenterId ? `${c.gpuTypeId} in ${c.dataCenterId}` : `${c.gpuTypeId} (any data center)`;
}

function cursorOfLink(link: string | null): string | null {
  if (!link) return null;
  try {
    return new URL(link, 'http://localhost').searchParams.get('cursor');
  } catch {
    return null;
  }
}

function validateOptions(o: RunpodOptions): string[] {
  const problems: string[] = [];
  if (typeof o.apiKey !== 'string' || o.apiKey.trim() === '') problems.push('apiKey is required (RUNPOD_API_KEY)');
  if (!Array.isArray(o.gpuTypeIds) || o.gpuTypeIds.length === 0 || o.gpuTypeIds.some((g) => !g?.trim())) {
    problems.push('gpuTypeIds must list at least one GPU type id (RUNPOD_GPU_TYPE_IDS)');
  }
  if (!o.image?.trim() && !o.templateId?.trim())
    problems.push('image (RUNPOD_IMAGE_NAME) or templateId (RUNPOD_TEMPLATE_ID) is required');
  if (o.gpuCount !== undefined && !(Number.isInteger(o.gpuCount) && o.gpuCount >= 1))
    problems.push(`gpuCount must be a whole number >= 1, not ${o.gpuCount}`);
  if (o.persistentMount && o.networkMount) problems.push('persistentMount and networkMount are mutually exclusive');
  if (o.allowedCudaVersions?.length && o.minCudaVersion !== undefined)
    problems.push('allowedCudaVersions and minCudaVersion are mutually exclusive');
  return problems;
}
