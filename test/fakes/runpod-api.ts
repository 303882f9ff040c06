import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the RunPod REST API v1 (https://rest.runpod.io/v1): a real HTTP server on
 * 127.0.0.1, pods in memory. It checks every request against the published OpenAPI spec (runpod/docs
 * api-reference/openapi.json): the method and path, `Authorization: Bearer <key>`, the query
 * parameters, and the names and types of the `POST /pods` body (components.schemas.PodCreateInput).
 * Anything the spec does not name is refused with 400 and a message, so a typo in a client fails
 * its tests instead of being silently ignored. The field table below is transcribed from the spec on
 * its own, not shared with the client, for the same reason.
 *
 * Stricter than the spec on purpose: it requires `imageName` and a non-empty `gpuTypeIds` (RunPod
 * cannot place a GPU pod without them), and a 401 echoes the presented key (so tests can check that
 * clients redact what an API echoes back). Error bodies are `{"error": "..."}`, as v1 answers.
 */

export type Route = 'create' | 'list' | 'get' | 'delete';
export type DesiredStatus = 'RUNNING' | 'EXITED' | 'TERMINATED';

/** A pod as GET /pods returns it (components.schemas.Pod field names). */
export interface FakePod {
  id: string;
  name: string;
  desiredStatus: DesiredStatus;
  image: string;
  env: Record<string, string>;
  gpu: { id: string; count: number; displayName: string } | null;
  costPerHr: number;
  machineId: string;
  /** Empty (null) while the pod initializes, per the spec. */
  publicIp: string | null;
  /** Empty ({}) while the pod initializes, per the spec. */
  portMappings: Record<string, number> | null;
  ports: string[];
  interruptible: boolean;
  lastStartedAt: string;
  /** Not in the spec's Pod, but v1 returns it, in this format. */
  createdAt: string;
  [extra: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  /** Path without the /v1 prefix and without the query string. */
  path: string;
  route: Route | null;
  query: Record<string, string[]>;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (undefined when there was none; the raw text when it was not JSON). */
  body: unknown;
  /** What the fake answered. */
  status: number;
}

export interface ScriptedAnswer {
  status?: number;
  /** Sent as JSON unless a string (then as is: use it for malformed bodies). Default {"error": ...}. */
  body?: unknown;
  headers?: Record<string, string>;
  /** create only: make the pod, then answer this anyway (an answer lost after the work was done). */
  afterCommit?: boolean;
  /** Never answer (the client has to time out). */
  stall?: boolean;
}

export interface FakeRunpodOptions {
  apiKey?: string;
  /** New pods are up at once (publicIp and portMappings set) instead of initializing. */
  readyOnCreate?: boolean;
  /** Milliseconds a create takes after the pod exists and before the answer (a window to crash in). */
  createDelayMs?: number;
}

export const NO_CAPACITY_MESSAGE =
  'There are no longer any instances available with the requested specifications. Please refresh and try again.';

type Check = (v: unknown) => string | null;
const isStr = (v: unknown): v is string => typeof v === 'string';
const str: Check = (v) => (isStr(v) ? null : 'must be a string');
const bool: Check = (v) => (typeof v === 'boolean' ? null : 'must be a boolean');
const num: Check = (v) => (typeof v === 'number' && Number.isFinite(v) ? null : 'must be a number');
const int =
  (min?: number, nullable = false): Check =>
  (v) => {
    if (v === null && nullable) return null;
    if (typeof v !== 'number' || !Number.isInteger(v)) return `must be an integer${nullable ? ' or null' : ''}`;
    return min !== undefined && v < min ? `must be >= ${min}` : null;
  };
const oneOf =
  (...values: string[]): Check =>
  (v) =>
    isStr(v) && values.includes(v) ? null : `must be one of ${values.join(', ')}`;
const strArray =
  (item: Check = str): Check =>
  (v) => {
    if (!Array.isArray(v)) return 'must be an array of strings';
    for (const [i, x] of v.entries()) {
      const p = item(x);
      if (p) return `[${i}] ${p}`;
    }
    return null;
  };
const envObject: Check = (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'must be an object of strings';
  for (const [k, x] of Object.entries(v)) if (!isStr(x)) return `.${k} must be a string`;
  return null;
};
const port: Check = (v) =>
  isStr(v) && /^\d{1,5}\/(http|tcp)$/.test(v) ? null : 'must look like "8888/http" or "22/tcp"';
const name: Check = (v) => (!isStr(v) ? 'must be a string' : v.length > 191 ? 'must be at most 191 characters' : null);

/** components.schemas.PodCreateInput: every property, with its type. */
const POD_CREATE_INPUT: Record<string, Check> = {
  allowedCudaVersions: strArray(),
  cloudType: oneOf('SECURE', 'COMMUNITY'),
  computeType: oneOf('GPU', 'CPU'),
  containerDiskInGb: int(undefined, true),
  containerRegistryAuthId: str,
  countryCodes: strArray(),
  cpuFlavorIds: strArray(),
  cpuFlavorPriority: oneOf('availability', 'custom'),
  dataCenterIds: strArray(),
  dataCenterPriority: oneOf('availability', 'custom'),
  dockerEntrypoint: strArray(),
  dockerStartCmd: strArray(),
  env: envObject,
  globalNetworking: bool,
  gpuCount: int(1),
  gpuTypeIds: strArray(),
  gpuTypePriority: oneOf('availability', 'custom'),
  imageName: str,
  interruptible: bool,
  locked: bool,
  minDiskBandwidthMBps: num,
  minDownloadMbps: num,
  minRAMPerGPU: int(),
  minUploadMbps: num,
  minVCPUPerGPU: int(),
  name,
  networkVolumeId: str,
  ports: strArray(port),
  supportPublicIp: bool,
  templateId: str,
  vcpuCount: int(),
  volumeInGb: int(undefined, true),
  volumeMountPath: str,
};

/** Query parameters of ListPods (GET /pods) and GetPod (GET /pods/{podId}). */
const INCLUDES = ['includeMachine', 'includeNetworkVolume', 'includeSavingsPlans', 'includeTemplate', 'includeWorkers'];
const LIST_QUERY = [
  'computeType',
  'cpuFlavorId',
  'dataCenterId',
  'desiredStatus',
  'endpointId',
  'gpuTypeId',
  'id',
  'imageName',
  ...INCLUDES,
  'name',
  'networkVolumeId',
  'templateId',
];

export class FakeRunpodApi {
  readonly apiKey: string;
  /** Base URL to give the client (ends in /v1, like https://rest.runpod.io/v1). */
  url = '';
  readonly pods = new Map<string, FakePod>();
  readonly requests: RecordedRequest[] = [];
  /** Ids of pods deleted through the API, in order. */
  readonly deleted: string[] = [];
  private server: Server | null = null;
  private script: { route: Route; answer: ScriptedAnswer; remaining: number }[] = [];
  private noCapacityFor = new Map<string, { remaining: number; status: number; message: string }>();
  private stalled: ServerResponse[] = [];
  private seq = 0;

  constructor(private readonly opts: FakeRunpodOptions = {}) {
    this.apiKey = opts.apiKey ?? 'rp_test_key_0123456789abcdef';
  }

  static async start(opts: FakeRunpodOptions = {}): Promise<FakeRunpodApi> {
    const api = new FakeRunpodApi(opts);
    await api.start();
    return api;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: `fake crashed: ${(err as Error).message}` }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const res of this.stalled) res.destroy();
    this.stalled = [];
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- scripting ---------------------------------------------------------------------------

  /** The next `times` requests to `route` get `answer` instead of the normal one (after auth and validation). */
  failNext(route: Route, answer: ScriptedAnswer, times = 1): this {
    this.script.push({ route, answer, remaining: times });
    return this;
  }

  /** 429 Too Many Requests with this Retry-After (seconds or an HTTP date). */
  rateLimitNext(route: Route, retryAfter: string | null, times = 1): this {
    const headers: Record<string, string> = retryAfter === null ? {} : { 'Retry-After': retryAfter };
    return this.failNext(route, { status: 429, body: { error: 'Too many requests' }, headers }, times);
  }

  /** A 5xx (default 500 "Something went wrong."). */
  serverErrorNext(route: Route, times = 1, status = 500, message = 'Something went wrong.'): this {
    return this.failNext(route, { status, body: { error: message } }, times);
  }

  /** Never answer the next `times` requests to `route`. */
  stallNext(route: Route, times = 1): this {
    return this.failNext(route, { stall: true }, times);
  }

  /**
   * The next `times` creates that can only be placed on these GPU types answer "no capacity" (400
   * by default; RunPod has also been seen to say it with a 500).
   */
  noCapacity(gpuTypeIds: string[], o: { times?: number; status?: number; message?: string } = {}): this {
    for (const g of gpuTypeIds) {
      this.noCapacityFor.set(g, {
        remaining: o.times ?? Number.POSITIVE_INFINITY,
        status: o.status ?? 400,
        message: o.message ?? NO_CAPACITY_MESSAGE,
      });
    }
    return this;
  }

  // ---- state -------------------------------------------------------------------------------

  /** Puts a pod there directly (not recorded as a request). */
  addPod(p: Partial<FakePod> & { name: string }): FakePod {
    const pod = this.newPod({ ...p });
    Object.assign(pod, p);
    this.pods.set(pod.id, pod);
    return pod;
  }

  /** The pod finished initializing: a public IP and port mappings. */
  markReady(podId: string): void {
    const pod = this.mustGet(podId);
    pod.publicIp = '203.0.113.10';
    pod.portMappings = Object.fromEntries(
      pod.ports.filter((p) => p.endsWith('/tcp')).map((p, i) => [p.split('/')[0], 40000 + i]),
    );
  }

  setDesiredStatus(podId: string, status: DesiredStatus): void {
    this.mustGet(podId).desiredStatus = status;
  }

  /** Recorded requests to one route. */
  requestsTo(route: Route): RecordedRequest[] {
    return this.requests.filter((r) => r.route === route);
  }

  // ---- the API -----------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const u = new URL(req.url ?? '/', 'http://fake');
    const query: Record<string, string[]> = {};
    for (const [k, v] of u.searchParams) query[k] = [...(query[k] ?? []), v];
    const method = req.method ?? 'GET';
    const path = u.pathname.startsWith('/v1/') || u.pathname === '/v1' ? u.pathname.slice(3) : u.pathname;
    let body: unknown;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const route = routeOf(method, path);
    const rec: RecordedRequest = { method, path, route, query, headers: req.headers, body, status: 0 };
    this.requests.push(rec);
    const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      if (payload === undefined) {
        res.writeHead(status, headers);
        res.end();
        return;
      }
      const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(text);
    };

    if (!u.pathname.startsWith('/v1/'))
      return send(404, { error: `no such path ${u.pathname} (the API lives under /v1)` });
    const auth = req.headers.authorization;
    if (auth !== `Bearer ${this.apiKey}`) {
      return send(401, { error: `invalid api key: ${auth ?? '(no Authorization header)'}` });
    }
    if (route === null) {
      const known = path === '/pods' || /^\/pods\/[^/]+$/.test(path);
      return known
        ? send(405, { error: `method ${method} not allowed on ${path}` })
        : send(404, { error: 'not found' });
    }
    const problems = this.validate(route, req, query, body, raw);
    if (problems.length) return send(400, { error: problems.join('; ') });

    const scripted = this.takeScript(route);
    if (scripted?.stall) {
      this.stalled.push(res);
      rec.status = -1;
      return;
    }
    if (scripted && !scripted.afterCommit) {
      return send(scripted.status ?? 500, scripted.body ?? { error: 'scripted failure' }, scripted.headers);
    }

    switch (route) {
      case 'create': {
        const b = body as Record<string, unknown>;
        const candidates = b.gpuTypeIds as string[];
        const gpu = candidates.find((g) => !this.outOfCapacity(g));
        if (gpu === undefined) {
          const first = this.noCapacityFor.get(candidates[0])!;
          for (const g of candidates) {
            const e = this.noCapacityFor.get(g);
            if (e) e.remaining -= 1;
          }
          return send(first.status, { error: first.message });
        }
        const pod = this.newPod({
          name: b.name as string,
          image: b.imageName as string,
          env: (b.env as Record<string, string>) ?? {},
          gpu: { id: gpu, count: (b.gpuCount as number) ?? 1, displayName: gpu.replace(/^NVIDIA (GeForce )?/, '') },
          ports: (b.ports as string[]) ?? ['8888/http', '22/tcp'],
          interruptible: (b.interruptible as boolean) ?? false,
        });
        this.pods.set(pod.id, pod);
        if (this.opts.readyOnCreate) this.markReady(pod.id);
        if (this.opts.createDelayMs) await new Promise((r) => setTimeout(r, this.opts.createDelayMs));
        if (scripted)
          return send(scripted.status ?? 500, scripted.body ?? { error: 'scripted failure' }, scripted.headers);
        return send(201, pod);
      }
      case 'list': {
        let pods = [...this.pods.values()];
        if (query.name) pods = pods.filter((p) => p.name === query.name[0]);
        if (query.id) pods = pods.filter((p) => p.id === query.id[0]);
        if (query.desiredStatus) pods = pods.filter((p) => p.desiredStatus === query.desiredStatus[0]);
        return send(200, pods);
      }
      case 'get': {
        const pod = this.pods.get(decodeURIComponent(path.slice('/pods/'.length)));
        return pod ? send(200, pod) : send(404, { error: 'pod not found' });
      }
      case 'delete': {
        const id = decodeURIComponent(path.slice('/pods/'.length));
        if (!this.pods.has(id)) return send(404, { error: 'pod not found' });
        this.pods.delete(id);
        this.deleted.push(id);
        return send(204);
      }
    }
  }

  private validate(
    route: Route,
    req: IncomingMessage,
    query: Record<string, string[]>,
    body: unknown,
    raw: string,
  ): string[] {
    const problems: string[] = [];
    const allowed = route === 'list' ? LIST_QUERY : route === 'get' ? INCLUDES : [];
    for (const k of Object.keys(query)) if (!allowed.includes(k)) problems.push(`unknown query parameter "${k}"`);
    if (query.desiredStatus && !['RUNNING', 'EXITED', 'TERMINATED'].includes(query.desiredStatus[0])) {
      problems.push('desiredStatus must be one of RUNNING, EXITED, TERMINATED');
    }
    if (query.name && query.name[0].length > 191) problems.push('name must be at most 191 characters');
    if (route !== 'create') {
      if (raw !== '') problems.push(`${req.method} ${route} takes no body`);
      return problems;
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      problems.push('Content-Type must be application/json');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      problems.push('the body must be a JSON object (PodCreateInput)');
      return problems;
    }
    for (const [k, v] of Object.entries(body)) {
      const check = POD_CREATE_INPUT[k];
      if (!check) {
        problems.push(`unknown field "${k}"`);
        continue;
      }
      const p = check(v);
      if (p) problems.push(`${k} ${p}`);
    }
    const b = body as Record<string, unknown>;
    if (b.imageName === undefined) problems.push('imageName is required');
    if (!Array.isArray(b.gpuTypeIds) || b.gpuTypeIds.length === 0) problems.push('gpuTypeIds must list a GPU type');
    return problems;
  }

  private takeScript(route: Route): ScriptedAnswer | undefined {
    const entry = this.script.find((s) => s.route === route && s.remaining > 0);
    if (!entry) return undefined;
    entry.remaining -= 1;
    this.script = this.script.filter((s) => s.remaining > 0);
    return entry.answer;
  }

  private outOfCapacity(gpuTypeId: string): boolean {
    const e = this.noCapacityFor.get(gpuTypeId);
    return e !== undefined && e.remaining > 0;
  }

  private newPod(p: Partial<FakePod> & { name: string }): FakePod {
    this.seq += 1;
    const id = p.id ?? `fk${this.seq.toString(36).padStart(12, '0')}`;
    const now = new Date(Date.UTC(2026, 10, 27, 12, 0, this.seq));
    return {
      id,
      name: p.name,
      desiredStatus: p.desiredStatus ?? 'RUNNING',
      image: p.image ?? 'example/worker:latest',
      env: p.env ?? {},
      gpu: p.gpu ?? { id: 'NVIDIA RTX A5000', count: 1, displayName: 'RTX A5000' },
      costPerHr: 0.27,
      machineId: `m${this.seq.toString(36).padStart(11, '0')}`,
      publicIp: null,
      portMappings: {},
      ports: p.ports ?? ['8888/http', '22/tcp'],
      interruptible: p.interruptible ?? false,
      lastStartedAt: now.toISOString(),
      createdAt: now.toISOString().replace('T', ' ').replace('Z', ' +0000 UTC'),
    };
  }

  private mustGet(podId: string): FakePod {
    const pod = this.pods.get(podId);
    if (!pod) throw new Error(`fake RunPod: no pod ${podId}`);
    return pod;
  }
}

function routeOf(method: string, path: string): Route | null {
  if (path === '/pods') return method === 'POST' ? 'create' : method === 'GET' ? 'list' : null;
  if (/^\/pods\/[^/]+$/.test(path)) return method === 'GET' ? 'get' : method === 'DELETE' ? 'delete' : null;
  return null;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
