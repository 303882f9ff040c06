import { timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { DbLoggingStats } from '../../events/health';
import { ALL_PROJECTIONS } from '../../projections/index';
import {
  blocksReadiness,
  type ConditionState,
  conditionJson,
  conditionText,
  recordedConditions,
} from '../control/conditions';
import { fleetBurnUsd, readFleet } from '../control/fleet';
import { explain } from '../explain/explain';
import {
  decisionSeries,
  lastDecisionAt,
  lastHealthSummary,
  recentAnomalies,
  recentDecisions,
} from '../projections/dashboard-queries';
import { checkpointName } from '../projections/runner';
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
  store: EventStore;
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

  constructor(private readonly o: HttpOptions) {
    this.metrics = o.metrics ?? new Metrics();
    this.feed = new EventFeed(o.store, METRIC_EVENT_TYPES, (events) => this.metrics.observeEvents(events));
    const store = o.store;
    const names = [...ALL_PROJECTIONS.map(checkpointName), ...(o.subscribers ?? [])];
    this.metrics.setSources({
      workersByStatus: async () => {
        const by: Record<string, number> = {};
        for (const w of await readFleet(store)) by[w.status] = (by[w.status] ?? 0) + 1;
        return by;
      },
      burnUsdPerHour: async () => fleetBurnUsd(await readFleet(store)),
      providerName: o.providerName ?? 'unknown',
      projectionLag: async () => {
        const lags = await checkpointLags(store.db, names);
        return Object.fromEntries(Object.entries(lags).map(([k, v]) => [k.replace(/^projection:/, ''), v]));
      },
      dbLogging: () => o.dbLogging?.() ?? NO_DB_LOGGING,
      conditions: async () => (await this.currentConditions()).conditions,
    });
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
    const server = http.createServer((req, res) => {
      this.route(req, res).catch((err) => {
        if (!res.headersSent) json(res, 500, { error: (err as Error).message });
        else res.end();
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
        await this.feed.catchUp();
        const text = await this.metrics.text();
        res.writeHead(200, { 'Content-Type': this.metrics.contentType });
        res.end(text);
        return;
      }
      case '/api/state':
        return json(res, 200, await this.state(url.searchParams.get('window') ?? '1h'));
      case '/api/explain':
        return this.explain(res, url.searchParams.get('cycle'));
    }
    const file = STATIC[url.pathname];
    if (!file) return json(res, 404, { error: `no ${url.pathname} here: try /, /metrics, /healthz or /readyz` });
    res.writeHead(200, { 'Content-Type': file.type, 'Cache-Control': 'no-cache' });
    res.end(fs.readFileSync(file.file()));
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

  /** Everything the dashboard shows, for a window ending at the newest decision or now. */
  async state(windowName: string): Promise<unknown> {
    const windowSec = WINDOWS[windowName];
    if (!windowSec) throw new Error(`window "${windowName}" is not one of ${Object.keys(WINDOWS).join(', ')}`);
    const { store } = this.o;
    const now = this.o.now();
    const last = await lastDecisionAt(store.db);
    // a store whose clock was simulated (the demo) ends before now: show its last window
    const end = last && now.getTime() - last.getTime() > windowSec * 1000 ? last : now;
    const from = new Date(end.getTime() - windowSec * 1000);
    const fleet = await readFleet(store);
    return {
      now: now.toISOString(),
      window: windowName,
      from: from.toISOString(),
      to: end.toISOString(),
      refreshSec: this.o.refreshSec,
      fleet: {
        workers: fleet.map((w) => ({
          workerId: w.workerId,
          podId: w.podId,
          status: w.status,
          requestedAt: w.requestedAt,
          activeAt: w.activeAt,
          gpus: w.gpus,
          hourlyCostUsd: w.hourlyCostUsd,
        })),
        count: fleet.length,
        byStatus: fleet.reduce<Record<string, number>>((by, w) => {
          by[w.status] = (by[w.status] ?? 0) + 1;
          return by;
        }, {}),
        burnUsdPerHour: fleetBurnUsd(fleet),
      },
      decisions: await recentDecisions(store.db, 20),
      anomalies: await recentAnomalies(store.db, 20),
      health: await lastHealthSummary(store.db),
      conditions: (await this.currentConditions()).conditions.map((c) => conditionJson(c, now)),
      series: await decisionSeries(store.db, from.toISOString(), end.toISOString()),
    };
  }

  private async explain(res: http.ServerResponse, cycleText: string | null): Promise<void> {
    const cycle = Number(cycleText);
    if (!cycleText || !Number.isInteger(cycle) || cycle < 1)
      return json(res, 400, { error: `cycle=${cycleText ?? ''} is not a cycle number: use a whole number >= 1` });
    const found = await eventsOfCycle(this.o.store, cycle, 120_000);
    if (found.events === null)
      return json(res, 404, {
        error: `no cycle #${cycle} in the store${found.maxCycle ? ` (cycles run from 1 to ${found.maxCycle})` : ''}`,
      });
    const result = explain(found.events, {
      focusCycle: cycle,
      previousTotal: await taskTotalBefore(this.o.store, cycle),
    });
    json(res, 200, { cycle, timeline: result.timeline, conclusion: result.conclusion });
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}
