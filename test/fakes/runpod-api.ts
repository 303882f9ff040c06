import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import Ajv2020 from 'ajv/dist/2020';
import CREATE_POD_SCHEMA from './runpod-v2-create-pod.schema.json';

/**
 * A local stand-in for the RunPod REST API v2 (https://api.runpod.io/v2): a real HTTP server on
 * 127.0.0.1, pods in memory. Routes are served under `/v2` (point a client at `${url}/v2`); any
 * path under `/v1` answers 410 Gone, as RunPod does since REST v1 was retired.
 *
 * Every `POST /pods` body is validated against the spec's CreatePodRequest schema (kept verbatim in
 * runpod-v2-create-pod.schema.json) with ajv's JSON Schema 2020-12 validator, so a field the spec
 * does not name is refused (422 with `errors[]`, as RunPod answers). The handler-level rules the spec
 * describes are enforced too: exactly one of gpu/cpu, persistent and network mounts never both, a
 * non-empty allowedCudaVersions never with minCudaVersion (400). Errors are application/problem+json.
 *
 * Pod actions follow the spec's `podAction` (`POST /pods/{id}/action`, body `PodActionRequest`:
 * exactly `{"action": "start" | "stop" | "restart" | "terminate"}`, anything else 422): `stop` takes a
 * RUNNING, PROVISIONING or STARTING pod to EXITED (cost 0, the disk kept), `start` an EXITED or ERROR
 * pod back toward RUNNING, `restart` a RUNNING pod; start/stop/restart answer 200 with the pod,
 * `terminate` 204; an action the pod's status does not allow answers 409. Each pod carries the
 * spec's `actions` field (the transitions its status allows). A start may be refused with 400 "not
 * enough free GPUs on the host machine" (refuseStarts), as RunPod does when a stopped pod's host is
 * full: the spec lists 400 for the action without naming the cases.
 */

export type Route = 'create' | 'list' | 'get' | 'delete' | 'catalog' | 'action';
export type PodStatus = 'PROVISIONING' | 'STARTING' | 'RUNNING' | 'EXITED' | 'ERROR' | 'TERMINATED';
export type Availability = 'NONE' | 'LOW' | 'MEDIUM' | 'HIGH';

/** A pod as the v2 API returns it (components.schemas.Pod field names, the ones that matter here). */
export interface FakePod {
  id: string;
  name: string;
  status: PodStatus;
  image: string;
  env: Record<string, string>;
  gpu: { id: string; count: number } | null;
  cloud: 'SECURE' | 'COMMUNITY';
  dataCenterId: string | null;
  cost: number;
  createdAt: string;
  startedAt: string | null;
  [extra: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  /** Path without the /v2 prefix and without the query string. */
  path: string;
  /** 'v1' or 'v2' (the prefix the client used). */
  version: string;
  route: Route | null;
  query: Record<string, string[]>;
  headers: IncomingHttpHeaders;
  body: unknown;
  status: number;
}

export interface ScriptedAnswer {
  status?: number;
  /** Sent as JSON unless a string (then as is). Default: a problem+json body for `status`. */
  body?: unknown;
  headers?: Record<string, string>;
  /** create only: make the pod, then answer this anyway (an answer lost after the work was done). */
  afterCommit?: boolean;
  /** Answer normally, only adding `headers` (e.g. a RateLimit header on a 2xx). */
  passThrough?: boolean;
  /** Never answer. */
  stall?: boolean;
}

export interface CatalogGpu {
  /** Per GPU per hour. */
  price: { secure: number; community: number };
  availability: Availability;
  /** Per data center; absent ones are not offered there. */
  dataCenters?: Record<string, Availability>;
}

export interface FakeRunpodOptions {
  apiKey?: string;
  /** New pods are RUNNING at once instead of PROVISIONING. */
  readyOnCreate?: boolean;
  /** Each GET of a pod (one or the list) moves it one step PROVISIONING -> STARTING -> RUNNING. */
  stepOnGet?: boolean;
  /** Milliseconds a create takes after the pod exists and before the answer (a window to crash in). */
  createDelayMs?: number;
  /** `GET /pods` answers this many pods per page, with a `nextCursor` for the rest. */
  pageSize?: number;
  /** Cost per hour the fake bills a new pod (0: unknown, as right after a create). */
  podCost?: number;
  /**
   * A lagging list: `GET /pods` leaves out pods made less than this many ms ago (as a caching proxy
   * in front of RunPod could; RunPod does not document its list's consistency).
   */
  listLagMs?: number;
  /** Called at each pod made by a create, right after it counts as live (a bench samples the live fleet here). */
  onCreate?: (pod: FakePod) => void;
  /** Called after each pod a create made or a delete (or terminate) ended, with the pods then holding GPUs (runpod-serve.ts prints it). */
  onPod?: (what: 'created' | 'terminated', pod: FakePod, holdingGpus: number) => void;
}

const validateCreate = (() => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  ajv.addSchema(CREATE_POD_SCHEMA, 'spec.json');
  const v = ajv.getSchema('spec.json#/components/schemas/CreatePodRequest');
  if (!v) throw new Error('CreatePodRequest missing from the kept schema');
  return v;
})();

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export const problem = (status: number, detail: string, errors?: string[]) => ({
  title: TITLES[status] ?? 'Error',
  status,
  detail,
  ...(errors ? { errors } : {}),
});

export const CANNOT_PLACE = 'There are no instances available with the requested specifications.';
/** RunPod's answer to a start whose host has no free GPU for the stopped pod. */
export const START_REFUSED = 'There are not enough free GPUs on the host machine to start this pod.';

const POD_ACTIONS = ['start', 'stop', 'restart', 'terminate'] as const;
type PodAction = (typeof POD_ACTIONS)[number];

/** The spec's `actions`: the transitions a pod's status allows. */
export function allowedActions(status: PodStatus): PodAction[] {
  switch (status) {
    case 'RUNNING':
      return ['stop', 'restart', 'terminate'];
    case 'EXITED':
    case 'ERROR':
      return ['start', 'terminate'];
    case 'PROVISIONING':
    case 'STARTING':
      return ['stop', 'terminate'];
    default:
      return [];
  }
}

export class FakeRunpodApi {
  readonly apiKey: string;
  /** The server root: give clients `${url}/v2` (or `${url}/v1` to meet the retired API). */
  url = '';
  readonly pods = new Map<string, FakePod>();
  readonly requests: RecordedRequest[] = [];
  /** Ids of pods deleted through the API, in order. */
  readonly deleted: string[] = [];
  readonly catalog = new Map<string, CatalogGpu>();
  /** Echo the presented key in error details (clients must redact it). */
  echoKey = false;
  private server: Server | null = null;
  private script: { route: Route; answer: ScriptedAnswer; remaining: number }[] = [];
  private cannotPlace: { gpuTypeId: string; dataCenterId: string | null; remaining: number }[] = [];
  private stalled: ServerResponse[] = [];
  private seq = 0;
  /** Real time (Date.now) each pod was made at, for the lagging list. */
  private readonly madeAt = new Map<string, number>();
  /** The most pods live (not terminated) at once, counted at each create. */
  peakLive = 0;
  /** The most pods holding GPUs (not EXITED, ERROR or TERMINATED) at once, counted at each create and start. */
  peakRunning = 0;
  /** Starts still to refuse with 400 START_REFUSED (refuseStarts); by pod id, or any pod under '*'. */
  private readonly startRefusals = new Map<string, number>();
  /** Pods that come back from a start without their GPUs (gpu.count 0), by id. */
  private readonly startWithoutGpus = new Set<string>();

  constructor(private readonly opts: FakeRunpodOptions = {}) {
    this.apiKey = opts.apiKey ?? 'rp_test_key_0123456789abcdef';
  }

  get v2(): string {
    return `${this.url}/v2`;
  }

  static async start(opts: FakeRunpodOptions = {}): Promise<FakeRunpodApi> {
    const api = new FakeRunpodApi(opts);
    await api.start();
    return api;
  }

  /** Listens on 127.0.0.1:`port` (0: any free port). */
  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/problem+json' });
        res.end(JSON.stringify(problem(500, String(err))));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.stalled) res.destroy();
    this.stalled = [];
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `times` answers of `route` are this instead of the real one. */
  failNext(route: Route, answer: ScriptedAnswer, times = 1): this {
    this.script.push({ route, answer, remaining: times });
    return this;
  }

  problemNext(route: Route, status: number, detail: string, o: { errors?: string[]; times?: number } = {}): this {
    return this.failNext(route, { status, body: problem(status, detail, o.errors) }, o.times ?? 1);
  }

  rateLimitNext(route: Route, headers: Record<string, string>, times = 1): this {
    return this.failNext(route, { status: 429, body: problem(429, 'rate limit exceeded'), headers }, times);
  }

  serverErrorNext(route: Route, times = 1, status = 500): this {
    return this.failNext(route, { status, body: problem(status, 'Something went wrong.') }, times);
  }

  stallNext(route: Route, times = 1): this {
    return this.failNext(route, { stall: true }, times);
  }

  /** Creates of this GPU type (in this data center, or anywhere when null) answer 400: cannot place. */
  rejectPlacement(gpuTypeId: string, dataCenterId: string | null = null, times = Number.POSITIVE_INFINITY): this {
    this.cannotPlace.push({ gpuTypeId, dataCenterId, remaining: times });
    return this;
  }

  /** The next `times` starts (of this pod, or of any pod when '*') answer 400: not enough free GPUs on the host. */
  refuseStarts(podId = '*', times = 1): this {
    this.startRefusals.set(podId, (this.startRefusals.get(podId) ?? 0) + times);
    return this;
  }

  /** The next start of this pod succeeds but gives the pod back with no GPU (gpu.count 0). */
  startWithoutGpu(podId: string): this {
    this.startWithoutGpus.add(podId);
    return this;
  }

  /** Pods holding a GPU now (PROVISIONING, STARTING, RUNNING). */
  runningPods(): FakePod[] {
    return [...this.pods.values()].filter(
      (p) => p.status === 'PROVISIONING' || p.status === 'STARTING' || p.status === 'RUNNING',
    );
  }

  setGpu(id: string, gpu: CatalogGpu): this {
    this.catalog.set(id, gpu);
    return this;
  }

  addPod(p: Partial<FakePod> & { name: string }): FakePod {
    const pod = this.newPod(p);
    this.pods.set(pod.id, pod);
    return pod;
  }

  setStatus(podId: string, status: PodStatus): void {
    const pod = this.mustGet(podId);
    pod.status = status;
    pod.actions = allowedActions(status);
  }

  /** One lifecycle step: PROVISIONING -> STARTING -> RUNNING. */
  advance(podId: string): void {
    const pod = this.mustGet(podId);
    if (pod.status === 'PROVISIONING') pod.status = 'STARTING';
    else if (pod.status === 'STARTING') {
      pod.status = 'RUNNING';
      pod.startedAt = new Date().toISOString();
    }
    pod.actions = allowedActions(pod.status);
  }

  requestsTo(route: Route): RecordedRequest[] {
    return this.requests.filter((r) => r.route === route);
  }

  /** Pods made under a name an earlier pod already had: the duplicates an ambiguous create can cause. */
  duplicates(): FakePod[] {
    const seen = new Set<string>();
    const dups: FakePod[] = [];
    for (const p of this.pods.values()) {
      if (seen.has(p.name)) dups.push(p);
      seen.add(p.name);
    }
    return dups;
  }

  /** Pods not deleted. */
  livePods(): FakePod[] {
    return [...this.pods.values()].filter((p) => p.status !== 'TERMINATED');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const text = await readBody(req);
    let body: unknown;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const m = /^\/(v\d+)(\/.*)?$/.exec(u.pathname);
    const version = m?.[1] ?? '';
    const path = m?.[2] ?? u.pathname;
    const route = version === 'v2' ? routeOf(method, path) : null;
    const query: Record<string, string[]> = {};
    for (const [k, v] of u.searchParams) query[k] = [...(query[k] ?? []), v];
    const rec: RecordedRequest = { method, path, version, route, query, headers: req.headers, body, status: 0 };
    this.requests.push(rec);
    const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      const isProblem = status >= 400;
      res.writeHead(status, {
        'Content-Type': isProblem ? 'application/problem+json' : 'application/json',
        ...headers,
      });
      res.end(payload === undefined ? '' : typeof payload === 'string' ? payload : JSON.stringify(payload));
    };

    if (version === 'v1') {
      return send(410, problem(410, 'REST API v1 was retired on 2026-11-15; use https://api.runpod.io/v2'));
    }
    if (!route) return send(404, problem(404, `no route ${method} ${u.pathname}`));
    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${this.apiKey}`) {
      return send(401, problem(401, `invalid API key: ${auth.replace(/^Bearer\s+/i, '')}`));
    }

    let extraHeaders: Record<string, string> = {};
    const scripted = this.takeScript(route);
    if (scripted?.stall) {
      rec.status = -1;
      this.stalled.push(res);
      return;
    }
    if (scripted && !scripted.afterCommit && !scripted.passThrough) {
      const status = scripted.status ?? 500;
      let payload = scripted.body ?? problem(status, 'scripted failure');
      if (this.echoKey && typeof payload === 'object' && payload !== null && 'detail' in payload) {
        payload = { ...payload, detail: `${String(payload.detail)} (key ${this.apiKey})` };
      }
      return send(status, payload, scripted.headers);
    }
    if (scripted?.passThrough) extraHeaders = scripted.headers ?? {};

    switch (route) {
      case 'catalog': {
        const gpus = [...this.catalog.entries()].map(([id, g]) => {
          const dcs = Object.entries(g.dataCenters ?? {}).map(([dc, a]) => ({ id: dc, name: dc, availability: a }));
          return {
            id,
            name: id,
            pool: null,
            manufacturer: 'NVIDIA',
            memory: 24,
            secure: true,
            community: true,
            price: g.price,
            maxCount: { secure: 8, community: 8 },
            availability: g.availability,
            ...(dcs.some((d) => d.availability !== 'NONE') ? { dataCenters: dcs } : {}),
          };
        });
        return send(200, { gpus }, extraHeaders);
      }
      case 'list': {
        const lag = this.opts.listLagMs ?? 0;
        const now = Date.now();
        const all = this.livePods().filter((p) => !lag || now - (this.madeAt.get(p.id) ?? 0) >= lag);
        for (const p of all) if (this.opts.stepOnGet) this.advance(p.id);
        const size = this.opts.pageSize;
        if (!size) return send(200, { pods: all }, extraHeaders);
        const from = Number(query.cursor?.[0] ?? 0);
        const page = all.slice(from, from + size);
        const next = from + size < all.length ? String(from + size) : undefined;
        return send(200, { pods: page, ...(next ? { nextCursor: next } : {}) }, extraHeaders);
      }
      case 'get': {
        const id = decodeURIComponent(path.slice('/pods/'.length));
        const pod = this.pods.get(id);
        if (!pod || pod.status === 'TERMINATED') return send(404, problem(404, 'pod not found'));
        if (this.opts.stepOnGet) this.advance(id);
        return send(200, pod, extraHeaders);
      }
      case 'delete': {
        const id = decodeURIComponent(path.slice('/pods/'.length));
        const pod = this.pods.get(id);
        if (!pod || pod.status === 'TERMINATED') return send(404, problem(404, 'pod not found'));
        pod.status = 'TERMINATED';
        pod.actions = [];
        this.deleted.push(id);
        this.opts.onPod?.('terminated', pod, this.runningPods().length);
        return send(204, undefined, extraHeaders);
      }
      case 'action': {
        const id = decodeURIComponent(path.slice('/pods/'.length, -'/action'.length));
        const b = body as { action?: unknown } | null;
        const keys = typeof b === 'object' && b !== null ? Object.keys(b) : [];
        const action = b?.action;
        if (
          keys.length !== 1 ||
          keys[0] !== 'action' ||
          typeof action !== 'string' ||
          !(POD_ACTIONS as readonly string[]).includes(action)
        ) {
          return send(
            422,
            problem(422, 'request validation failed', [
              `$: expected exactly {"action": one of ${POD_ACTIONS.join(', ')}}, got ${JSON.stringify(body)}`,
            ]),
          );
        }
        const pod = this.pods.get(id);
        if (!pod || pod.status === 'TERMINATED') return send(404, problem(404, 'pod not found'));
        const act = action as PodAction;
        if (!allowedActions(pod.status).includes(act)) {
          return send(
            409,
            problem(
              409,
              `action ${act} is not valid for a pod in status ${pod.status}; allowed: ${allowedActions(pod.status).join(', ') || 'none'}`,
            ),
          );
        }
        if (act === 'terminate') {
          pod.status = 'TERMINATED';
          pod.actions = [];
          this.deleted.push(id);
          this.opts.onPod?.('terminated', pod, this.runningPods().length);
          return send(204, undefined, extraHeaders);
        }
        if (act === 'stop') {
          pod.status = 'EXITED';
          pod.cost = 0;
        } else if (act === 'start') {
          const left = this.startRefusals.get(id) ?? 0;
          const any = this.startRefusals.get('*') ?? 0;
          if (left > 0 || any > 0) {
            if (left > 0) this.startRefusals.set(id, left - 1);
            else this.startRefusals.set('*', any - 1);
            return send(400, problem(400, START_REFUSED));
          }
          pod.status = this.opts.readyOnCreate ? 'RUNNING' : 'PROVISIONING';
          pod.cost = this.opts.podCost ?? 0;
          if (this.startWithoutGpus.delete(id) && pod.gpu) pod.gpu = { ...pod.gpu, count: 0 };
          if (this.opts.readyOnCreate) pod.startedAt = new Date().toISOString();
          this.peakRunning = Math.max(this.peakRunning, this.runningPods().length);
        }
        pod.actions = allowedActions(pod.status);
        return send(200, pod, extraHeaders);
      }
      case 'create': {
        if (!validateCreate(body)) {
          const errors = (validateCreate.errors ?? []).map(
            (e) =>
              `$${e.instancePath.replace(/\//g, '.')}: ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`,
          );
          return send(422, problem(422, 'request validation failed', errors));
        }
        const b = body as Record<string, unknown> & {
          name: string;
          image?: string;
          gpu?: { id: string; count?: number; allowedCudaVersions?: string[]; minCudaVersion?: string };
          cpu?: unknown;
          mounts?: { persistent?: unknown; network?: unknown[] };
          dataCenterIds?: string[];
          env?: Record<string, string>;
          cloud?: 'SECURE' | 'COMMUNITY';
          templateId?: string;
        };
        if ((b.gpu === undefined) === (b.cpu === undefined)) {
          return send(400, problem(400, 'exactly one of gpu or cpu must be set'));
        }
        if (b.mounts?.persistent !== undefined && b.mounts?.network !== undefined) {
          return send(400, problem(400, 'mounts.persistent and mounts.network are mutually exclusive'));
        }
        if (b.gpu?.allowedCudaVersions?.length && b.gpu.minCudaVersion !== undefined) {
          return send(400, problem(400, 'allowedCudaVersions and minCudaVersion are mutually exclusive'));
        }
        const gpuId = b.gpu?.id ?? '';
        const dc = b.dataCenterIds?.[0] ?? null;
        const block = this.cannotPlace.find(
          (c) => c.remaining > 0 && c.gpuTypeId === gpuId && (c.dataCenterId === null || c.dataCenterId === dc),
        );
        const stock = this.catalog.get(gpuId);
        const noStock =
          stock !== undefined &&
          (dc === null ? stock.availability === 'NONE' : (stock.dataCenters?.[dc] ?? 'NONE') === 'NONE');
        if (block || noStock) {
          if (block) block.remaining -= 1;
          return send(400, problem(400, `${CANNOT_PLACE} (${gpuId}${dc ? ` in ${dc}` : ''})`));
        }
        const pod = this.newPod({
          name: b.name,
          image: b.image ?? `template:${b.templateId}`,
          env: b.env ?? {},
          gpu: { id: gpuId, count: b.gpu?.count ?? 1 },
          cloud: b.cloud ?? 'SECURE',
          dataCenterId: dc ?? 'US-TX-3',
        });
        this.pods.set(pod.id, pod);
        this.madeAt.set(pod.id, Date.now());
        this.opts.onCreate?.(pod);
        this.peakLive = Math.max(this.peakLive, this.livePods().length);
        this.peakRunning = Math.max(this.peakRunning, this.runningPods().length);
        this.opts.onPod?.('created', pod, this.runningPods().length);
        if (this.opts.createDelayMs) await new Promise((r) => setTimeout(r, this.opts.createDelayMs));
        if (scripted?.afterCommit) {
          const status = scripted.status ?? 500;
          return send(status, scripted.body ?? problem(status, 'scripted failure'), scripted.headers);
        }
        return send(201, pod, extraHeaders);
      }
    }
  }

  private takeScript(route: Route): ScriptedAnswer | undefined {
    const i = this.script.findIndex((s) => s.route === route && s.remaining > 0);
    if (i < 0) return undefined;
    const s = this.script[i];
    if (!s) return undefined;
    s.remaining -= 1;
    if (s.remaining === 0) this.script.splice(i, 1);
    return s.answer;
  }

  private newPod(p: Partial<FakePod> & { name: string }): FakePod {
    this.seq += 1;
    const now = new Date().toISOString();
    const ready = this.opts.readyOnCreate === true;
    return {
      id: `pod${String(this.seq).padStart(4, '0')}`,
      status: ready ? 'RUNNING' : 'PROVISIONING',
      image: 'ghcr.io/example/worker:1',
      env: {},
      gpu: { id: 'NVIDIA GeForce RTX 4090', count: 1 },
      cloud: 'SECURE',
      dataCenterId: 'US-TX-3',
      cost: this.opts.podCost ?? 0,
      createdAt: now,
      startedAt: ready ? now : null,
      ...p,
      actions: allowedActions(p.status ?? (ready ? 'RUNNING' : 'PROVISIONING')),
    };
  }

  private mustGet(podId: string): FakePod {
    const pod = this.pods.get(podId);
    if (!pod) throw new Error(`no pod ${podId}`);
    return pod;
  }
}

function routeOf(method: string, path: string): Route | null {
  if (path === '/pods') return method === 'POST' ? 'create' : method === 'GET' ? 'list' : null;
  if (/^\/pods\/[^/]+$/.test(path)) return method === 'GET' ? 'get' : method === 'DELETE' ? 'delete' : null;
  if (/^\/pods\/[^/]+\/action$/.test(path)) return method === 'POST' ? 'action' : null;
  if (path === '/catalog/gpus' && method === 'GET') return 'catalog';
  return null;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      data += c;
    });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}
