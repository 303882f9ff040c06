import { timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { DEFAULT_POOL, POOL_NAME_ALLOWED, POOL_NAME_PATTERN } from '../../events/common';
import type { DbLoggingStats } from '../../events/health';
import { ALL_POOLS } from '../../events/operator';
import { ALL_PROJECTIONS } from '../../projections/index';
import {
  blocksReadiness,
  type ConditionState,
  conditionJson,
  conditionText,
  recordedConditions,
} from '../control/conditions';
import { fleetBurnUsd, readFleet } from '../control/fleet';
import { readOverrides } from '../control/overrides';
import { explain } from '../explain/explain';
import { overrideLine } from '../policies/render';
import {
  decisionSeries,
  lastDecisionAt,
  lastDecisionOfEachPool,
  lastHealthSummary,
  recentAnomalies,
  recentDecisions,
} from '../projections/dashboard-queries';
import { parkedCost, parkedPods } from '../projections/parking-queries';
import { checkpointName } from '../projections/runner';
import { poolsInStore } from '../projections/status-queries';
import { eventsOfCycle, taskTotalBefore } from '../store/event-queries';
import type { EventStore } from '../store/event-store';
import { checkpointLags } from '../store/queries';
import { packageRoot } from '../util/package-root';
import { EventFeed } from './event-feed';
import { METRIC_EVENT_TYPES, Metrics } from './metrics';

/** One check of /readyz: ok or not, and why. */
export interface ReadyCheck {
  ok: boolean;
  detail: string;
}

/** What /readyz answers: ready when every check is ok. */
export type Readiness = () => Promise<Record<string, ReadyCheck>>;

export interface HttpOptions {
  /** The controller's store: its appends mark what is cached stale. */
  store: EventStore;
  /**
   * The store every read is served from: its own connections on a server, so readers never queue
   * behind (or ahead of) the controller's queries (default: `store`, as PGlite has one connection).
   */
  readStore?: EventStore;
  /** Expensive reads (the API, /metrics) computed at once; beyond it 429 (default MAX_CONCURRENT_READS). */
  maxConcurrent?: number;
  /** HTTP_HOST and HTTP_PORT (0: any free port). */
  host: string;
  port: number;
  /** HTTP_TOKEN: required (as `Authorization: Bearer`, or `?token=`) on everything but /healthz. */
  token?: string | null;
  /** The metrics to export (with their hooks already wired); made here when absent. */
  metrics?: Metrics;
  dbLogging?: () => DbLoggingStats;
  readiness?: Readiness;
  /** The time the dashboard's windows end at (the controller's clock). */
  now: () => Date;
  /** How often the dashboard refreshes (the cycle), seconds. */
  refreshSec: number;
  /** The provider's name, for the burn rate's label (default `unknown`). */
  providerName?: string;
  /** Other checkpointed subscribers whose lag /metrics reports (the reactor, the alerts). */
  subscribers?: readonly string[];
  /**
   * The controller's conditions while this replica leads (they count toward /readyz); null while it
   * does not (the recorded ones are shown, and do not count). Absent: the recorded ones, not counted.
   */
  conditions?: () => readonly ConditionState[] | null;
}

export const WINDOWS: Record<string, number> = { '1h': 3600, '6h': 6 * 3600, '24h': 86400, '7d': 7 * 86400 };

/**
 * How many expensive reads (/api/state, /api/explain, /metrics whose answer is not cached) are
 * computed at once. Identical requests share one computation and its answer is kept until the
 * store changes (a cycle appends), so a flood of readers costs a few queries per cycle; a request
 * that needs one more computation beyond this gets 429 with Retry-After.
 */
export const MAX_CONCURRENT_READS = 4;

/** The largest cycle number (the projections keep it as a PostgreSQL integer). */
const MAX_CYCLE = 2_147_483_647;

/** How long a cached answer may be reused while the store does not change (ms). */
const METRICS_MAX_AGE_MS = 1000;

/** What a request asked for that is not allowed: a 400 saying what is. */
class BadRequest extends Error {}

/** Too many expensive reads at once: a 429. */
class Busy extends Error {}

interface Cached {
  generation: number;
  at: number;
  body: Promise<string>;
}

const NO_DB_LOGGING: DbLoggingStats = {
  enabled: false,
  healthy: true,
  initError: null,
  sent: 0,
  failed: 0,
  dropped: 0,
  queueSize: 0,
  errorRate: 0,
};

const STATIC: Record<string, { file: () => string; type: string }> = {
  '/': { file: () => path.join(dashboardDir(), 'index.html'), type: 'text/html; charset=utf-8' },
  '/assets/dashboard.js': { file: () => path.join(dashboardDir(), 'dashboard.js'), type: 'text/javascript' },
  '/assets/dashboard.css': { file: () => path.join(dashboardDir(), 'dashboard.css'), type: 'text/css' },
  '/assets/uPlot.iife.min.js': {
    file: () => require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript',
  },
  '/assets/uPlot.min.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css' },
};

/** The dashboard's files: plain HTML, JS and CSS, served as they are (no build step). */
const dashboardDir = () => path.join(packageRoot(), 'src', 'observe', 'dashboard');

export class HttpEndpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HttpEndpointError';
  }
}

/**
 * The service's HTTP endpoint: /healthz, /readyz, /metrics (Prometheus), and the dashboard at /
 * with its JSON API (/api/state, /api/explain). Reads only: the projections and the event store.
 */
export class HttpEndpoint {
  readonly metrics: Metrics;
  private readonly feed: EventFeed;
  private server: http.Server | null = null;
  private readonly reads: EventStore;
  private readonly maxConcurrent: number;
  /** Bumped by every append and wake of the controller's store: a cached answer of an older one is stale. */
  private generation = 0;
  private readonly cache = new Map<string, Cached>();
  private computing = 0;
  private readonly files = new Map<string, Buffer>();
  private readonly bump = () => {
    this.generation += 1;
  };

  constructor(private readonly o: HttpOptions) {
    this.metrics = o.metrics ?? new Metrics();
    this.reads = o.readStore ?? o.store;
    this.maxConcurrent = Math.max(1, o.maxConcurrent ?? MAX_CONCURRENT_READS);
    this.feed = new EventFeed(this.reads, METRIC_EVENT_TYPES, (events) => this.metrics.observeEvents(events));
    const store = this.reads;
    const names = [...ALL_PROJECTIONS.map(checkpointName), ...(o.subscribers ?? [])];
    /** Each pool's live fleet (every pool of the store, with or without workers). */
    const fleets = async () => {
      const fleet = await readFleet(store.reads);
      const pools = [...new Set([...(await this.storePools()), ...fleet.map((w) => w.pool)])];
      return pools.map((pool) => ({ pool, workers: fleet.filter((w) => w.pool === pool) }));
    };
    this.metrics.setSources({
      workersByStatus: async () =>
        Object.fromEntries((await fleets()).map(({ pool, workers }) => [pool, byStatus(workers)])),
      burnUsdPerHour: async () =>
        Object.fromEntries((await fleets()).map(({ pool, workers }) => [pool, fleetBurnUsd(workers)])),
      providerName: o.providerName ?? 'unknown',
      projectionLag: async () => {
        const lags = await checkpointLags(store.db, names);
        return Object.fromEntries(Object.entries(lags).map(([k, v]) => [k.replace(/^projection:/, ''), v]));
      },
      dbLogging: () => o.dbLogging?.() ?? NO_DB_LOGGING,
      // pool default's as the endpoint has them (the leading controller's, else the record's); the others' recorded
      conditions: async () => {
        const out: { pool: string; conditions: readonly ConditionState[] }[] = [];
        for (const pool of await this.storePools())
          out.push({
            pool,
            conditions:
              pool === DEFAULT_POOL
                ? (await this.currentConditions()).conditions
                : await recordedConditions(this.o.store, pool),
          });
        return out;
      },
      parked: async () => parkedCost(await parkedPods(store.db)),
    });
  }

  /** The pools of the store (a store with no pool rows yet: pool default alone). */
  private async storePools(): Promise<string[]> {
    const pools = await poolsInStore(this.reads.db);
    return pools.length ? pools : [DEFAULT_POOL];
  }

  /** The conditions: the leading controller's own, else the record's (which do not count for readiness). */
  private async currentConditions(): Promise<{ live: boolean; conditions: readonly ConditionState[] }> {
    const live = this.o.conditions?.() ?? null;
    return live
      ? { live: true, conditions: live }
      : { live: false, conditions: await recordedConditions(this.o.store) };
  }

  /** Listens; resolves to the address. A port in use is an HttpEndpointError saying what to do. */
  async start(): Promise<AddressInfo> {
    await this.feed.startAtHead();
    this.o.store.signals.on('appended', this.bump);
    this.o.store.signals.on('wake', this.bump);
    const server = http.createServer((req, res) => {
      this.route(req, res).catch((err) => {
        if (res.headersSent) res.end();
        else if (err instanceof BadRequest) json(res, 400, { error: err.message });
        else if (err instanceof Busy) {
          res.setHeader('Retry-After', '1');
          json(res, 429, { error: err.message });
        } else json(res, 500, { error: (err as Error).message });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const where = `${this.o.host}:${this.o.port}`;
        reject(
          new HttpEndpointError(
            err.code === 'EADDRINUSE'
              ? `${where} is already in use: set HTTP_PORT to a free port (0: any free port)`
              : `cannot listen on ${where}: ${err.message} (HTTP_HOST, HTTP_PORT)`,
          ),
        );
      });
      server.listen(this.o.port, this.o.host, () => resolve());
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  get address(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null) ?? null;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.o.store.signals.off('appended', this.bump);
    this.o.store.signals.off('wake', this.bump);
    this.cache.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * With HTTP_TOKEN set: the token as `Authorization: Bearer`, as `?token=` (a browser opening the
   * dashboard), or the cookie a `?token=` sets, so the page's own files and calls carry it.
   */
  private authorized(req: http.IncomingMessage, url: URL, res: http.ServerResponse): boolean {
    const token = this.o.token;
    if (!token) return true;
    const fromHeader = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const fromQuery = url.searchParams.get('token');
    const fromCookie = /(?:^|;\s*)gpu_scaler_token=([^;]*)/.exec(req.headers.cookie ?? '')?.[1];
    const same = (given: string | null | undefined) => {
      if (!given) return false;
      const a = Buffer.from(safeDecode(given));
      const b = Buffer.from(token);
      return a.length === b.length && timingSafeEqual(a, b);
    };
    if (same(fromQuery)) {
      res.setHeader('Set-Cookie', `gpu_scaler_token=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`);
      return true;
    }
    return same(fromHeader) || same(fromCookie);
  }

  /** Expensive reads being computed now (tests wait on it). */
  get inFlight(): number {
    return this.computing;
  }

  /**
   * The answer for `key`: cached while the store has not changed (and for at most maxAgeMs), shared
   * by concurrent requests, computed anew only when fewer than maxConcurrent are being computed
   * (else Busy: a 429).
   */
  private answer(key: string, maxAgeMs: number, compute: () => Promise<string>): Promise<string> {
    const hit = this.cache.get(key);
    if (hit && hit.generation === this.generation && Date.now() - hit.at <= maxAgeMs) return hit.body;
    if (this.computing >= this.maxConcurrent) {
      throw new Busy(
        `${this.computing} expensive reads are being computed (at most ${this.maxConcurrent} at once): retry after 1 s`,
      );
    }
    this.computing += 1;
    const body = compute().finally(() => {
      this.computing -= 1;
    });
    const entry: Cached = { generation: this.generation, at: Date.now(), body };
    for (const [k, v] of this.cache) if (v.generation !== this.generation) this.cache.delete(k);
    if (this.cache.size >= 64) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, entry);
    body.catch(() => {
      if (this.cache.get(key) === entry) this.cache.delete(key);
    });
    return body;
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return json(res, 405, { error: `${req.method} is not allowed: use GET` });
    }
    if (url.pathname === '/healthz') return json(res, 200, { status: 'ok' });
    if (!this.authorized(req, url, res)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return json(res, 401, { error: 'a bearer token is required (HTTP_TOKEN): Authorization: Bearer <token>' });
    }
    switch (url.pathname) {
      case '/readyz':
        return this.ready(res);
      case '/metrics': {
        const text = await this.answer('metrics', METRICS_MAX_AGE_MS, async () => {
          await this.feed.catchUp();
          return this.metrics.text();
        });
        res.writeHead(200, { 'Content-Type': this.metrics.contentType });
        res.end(text);
        return;
      }
      case '/api/state': {
        const window = url.searchParams.get('window') ?? '1h';
        if (!Object.hasOwn(WINDOWS, window)) {
          throw new BadRequest(
            `window=${window} is not a window: use one of ${Object.keys(WINDOWS).join(', ')} (e.g. /api/state?window=1h)`,
          );
        }
        const pool = poolParam(url.searchParams.get('pool'));
        const body = await this.answer(`state:${window}:${pool ?? ''}`, this.o.refreshSec * 1000, async () =>
          JSON.stringify(await this.state(window, pool)),
        );
        return jsonText(res, 200, body);
      }
      case '/api/explain': {
        const cycle = cycleParam(url.searchParams.get('cycle'));
        const pool = poolParam(url.searchParams.get('pool')) ?? DEFAULT_POOL;
        const found = await this.answer(`explain:${pool}:${cycle}`, this.o.refreshSec * 1000, () =>
          this.explain(cycle, pool),
        );
        return jsonText(res, found.startsWith('{"error"') ? 404 : 200, found);
      }
    }
    const file = STATIC[url.pathname];
    if (!file) return json(res, 404, { error: `no ${url.pathname} here: try /, /metrics, /healthz or /readyz` });
    let content = this.files.get(url.pathname);
    if (!content) {
      content = fs.readFileSync(file.file());
      this.files.set(url.pathname, content);
    }
    res.writeHead(200, { 'Content-Type': file.type, 'Cache-Control': 'no-cache' });
    res.end(content);
  }

  private async ready(res: http.ServerResponse): Promise<void> {
    let checks: Record<string, ReadyCheck>;
    try {
      checks = this.o.readiness ? await this.o.readiness() : {};
    } catch (err) {
      checks = { readiness: { ok: false, detail: (err as Error).message } };
    }
    // Not ready while the leading controller cannot scale: AbleToScale=False (spawning stopped) or
    // SourceHealthy=False (no valid task count, no decision). ScalingLimited never counts; nor do the
    // recorded conditions a follower shows (it does not act, and must not hold up a rollout).
    let conditions: { live: boolean; conditions: readonly ConditionState[] } = { live: false, conditions: [] };
    try {
      conditions = await this.currentConditions();
    } catch (err) {
      checks.conditions = { ok: false, detail: `cannot be read: ${(err as Error).message}` };
    }
    const now = this.o.now();
    if (conditions.live) {
      const blocking = conditions.conditions.filter(blocksReadiness);
      checks.scaling = blocking.length
        ? { ok: false, detail: blocking.map((c) => conditionText(c, now)).join('; ') }
        : { ok: true, detail: 'able to scale, the task source healthy' };
    }
    const ready = Object.values(checks).every((c) => c.ok);
    const reasons = Object.entries(checks)
      .filter(([, c]) => !c.ok)
      .map(([name, c]) => `${name}: ${c.detail}`);
    json(res, ready ? 200 : 503, {
      ready,
      checks,
      reasons,
      conditions: conditions.conditions.map((c) => conditionJson(c, now)),
      conditionsFrom: conditions.live ? 'controller' : 'record',
    });
  }

  /**
   * Everything the dashboard shows, for a window ending at the newest decision or now: of one pool, or
   * (no pool) of every pool together as before pools; and the all-pools view (`pools`: each pool's
   * live workers, desired workers and last decision). A pool the store does not have is a 400 naming
   * those it has.
   */
  async state(windowName: string, pool?: string): Promise<unknown> {
    const windowSec = WINDOWS[windowName];
    if (!windowSec) throw new BadRequest(`window "${windowName}" is not one of ${Object.keys(WINDOWS).join(', ')}`);
    const store = this.reads;
    const known = await this.storePools();
    if (pool !== undefined && !known.includes(pool)) {
      throw new BadRequest(
        `pool=${pool} is not a pool of this store: ${known.length === 1 ? 'its pool is' : 'its pools are'} ${known.join(', ')} (e.g. /api/state?pool=${known[0]})`,
      );
    }
    const now = this.o.now();
    const last = await lastDecisionAt(store.db, pool);
    // a store whose clock was simulated (the demo) ends before now: show its last window
    const end = last && now.getTime() - last.getTime() > windowSec * 1000 ? last : now;
    const from = new Date(end.getTime() - windowSec * 1000);
    const everyWorker = await readFleet(store.reads);
    const fleet = pool === undefined ? everyWorker : everyWorker.filter((w) => w.pool === pool);
    const conditions =
      pool === undefined ? (await this.currentConditions()).conditions : await recordedConditions(this.o.store, pool);
    const overrides = (await readOverrides(store, now)).inForce.filter(
      (o) => pool === undefined || o.pool === ALL_POOLS || o.pool === pool,
    );
    const lastDecisions = await lastDecisionOfEachPool(store.db, known);
    return {
      now: now.toISOString(),
      window: windowName,
      from: from.toISOString(),
      to: end.toISOString(),
      refreshSec: this.o.refreshSec,
      /** The pool shown (null: every pool together). */
      pool: pool ?? null,
      /** The all-pools view: every pool of the store, its live workers, desired workers and last decision. */
      pools: known.map((name) => {
        const own = everyWorker.filter((w) => w.pool === name);
        const decision = lastDecisions.find((d) => d.pool === name) ?? null;
        return {
          pool: name,
          workers: own.length,
          byStatus: byStatus(own),
          desired: decision?.desired ?? null,
          burnUsdPerHour: fleetBurnUsd(own),
          lastDecision: decision,
        };
      }),
      fleet: {
        workers: fleet.map((w) => ({
          workerId: w.workerId,
          pool: w.pool,
          podId: w.podId,
          status: w.status,
          requestedAt: w.requestedAt,
          activeAt: w.activeAt,
          gpus: w.gpus,
          hourlyCostUsd: w.hourlyCostUsd,
        })),
        count: fleet.length,
        byStatus: byStatus(fleet),
        burnUsdPerHour: fleetBurnUsd(fleet),
      },
      /** Parked pods (docs/parked-pods.md): apart from the fleet and its burn rate. */
      parked: parkedCost(await parkedPods(store.db)),
      decisions: await recentDecisions(store.db, 20, pool),
      anomalies: await recentAnomalies(store.db, 20, pool),
      health: await lastHealthSummary(store.db, pool),
      conditions: conditions.map((c) => conditionJson(c, now)),
      // the operators' overrides in force, each in the words of src/policies/render.ts
      overrides: overrides.map((o) => ({ ...o, text: overrideLine(o) })),
      series: await decisionSeries(store.db, from.toISOString(), end.toISOString(), pool),
    };
  }

  /** The explanation of a cycle as JSON text; `{"error": …}` when the store has no such cycle (a 404). */
  private async explain(cycle: number, pool: string): Promise<string> {
    const found = await eventsOfCycle(this.reads, cycle, 120_000, pool);
    const ofPool = pool === DEFAULT_POOL ? '' : ` of pool ${pool}`;
    if (found.events === null)
      return JSON.stringify({
        error: `no cycle #${cycle}${ofPool} in the store${found.maxCycle ? ` (cycles run from 1 to ${found.maxCycle})` : ''}`,
      });
    const result = explain(found.events, {
      focusCycle: cycle,
      previousTotal: await taskTotalBefore(this.reads, cycle, pool),
    });
    return JSON.stringify({ cycle, pool, timeline: result.timeline, conclusion: result.conclusion });
  }
}

/** `?cycle=`: a whole number from 1 to MAX_CYCLE, in decimal digits. */
function cycleParam(text: string | null): number {
  const cycle = Number(text);
  if (!text || !/^[0-9]{1,10}$/.test(text) || cycle < 1 || cycle > MAX_CYCLE) {
    throw new BadRequest(
      `cycle=${text ?? ''} is not a cycle number: use a whole number from 1 to ${MAX_CYCLE} (e.g. /api/explain?cycle=12)`,
    );
  }
  return cycle;
}

/** `?pool=`: a pool name (absent or empty: none asked for). */
function poolParam(text: string | null): string | undefined {
  if (text === null || text === '') return undefined;
  if (!POOL_NAME_PATTERN.test(text))
    throw new BadRequest(
      `pool=${text} is not a pool name: a pool name is ${POOL_NAME_ALLOWED} (e.g. /api/state?pool=default)`,
    );
  return text;
}

/** Live workers by status. */
function byStatus(workers: readonly { status: string }[]): Record<string, number> {
  const by: Record<string, number> = {};
  for (const w of workers) by[w.status] = (by[w.status] ?? 0) + 1;
  return by;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  jsonText(res, status, JSON.stringify(body));
}

function jsonText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`${text}\n`);
}
