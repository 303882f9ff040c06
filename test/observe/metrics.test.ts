import { FakeClock } from '../../src/clock';
import { HttpEndpoint } from '../../src/observe/http';
import { Metrics, PROCESS_METRICS } from '../../src/observe/metrics';
import { SimulatedProvider } from '../../src/providers/simulated';
import { BACKENDS, forEachBackend, harness } from '../helpers/harness';
import { parseScrape } from '../helpers/prometheus';

forEachBackend('/metrics, /healthz and /readyz', BACKENDS, (backend) => {
  test('after scripted cycles the scrape has every metric with its type and the values of the run', async () => {
    const metrics = new Metrics();
    const clock = new FakeClock('2026-11-27T18:00:00.000Z');
    const provider = new SimulatedProvider({
      clock,
      startupMinSec: 5,
      startupMaxSec: 10,
      failureRate: 0,
      seed: 1,
      gpuHourlyUsd: 1.5,
    });
    const h = await harness(backend(), { env: { MAX_WORKERS: '4' }, metrics, provider });
    const endpoint = new HttpEndpoint({
      store: h.store,
      host: '127.0.0.1',
      port: 0,
      metrics,
      dbLogging: () => h.logging.dbStats(),
      now: () => h.clock.now(),
      refreshSec: 30,
      providerName: 'simulated',
      subscribers: ['reactor'],
      readiness: async () => ({ store: { ok: true, detail: 'reachable' }, role: { ok: true, detail: 'leading' } }),
    });
    try {
      const { port } = await endpoint.start();
      const base = `http://127.0.0.1:${port}`;
      h.source.set(0);
      await h.cycle(); // MAINTAIN at 0
      h.source.set(51);
      await h.cycle(); // SCALE_UP to 4 (MAX_WORKERS): from nowhere, rapid scale-up
      h.source.delayMs = 6000; // slower than ANOMALY_SLOW_SOURCE_SEC=5
      await h.cycle();

      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const s = parseScrape(await res.text());

      const types: Record<string, string> = {
        gpu_scaler_tasks_queued: 'gauge',
        gpu_scaler_tasks_active: 'gauge',
        gpu_scaler_tasks: 'gauge',
        gpu_scaler_workers: 'gauge',
        gpu_scaler_desired_workers: 'gauge',
        gpu_scaler_decisions_total: 'counter',
        gpu_scaler_spawns_total: 'counter',
        gpu_scaler_spawn_failures_total: 'counter',
        gpu_scaler_anomalies_total: 'counter',
        gpu_scaler_task_counts_rejected_total: 'counter',
        gpu_scaler_task_source_duration_seconds: 'histogram',
        gpu_scaler_cycle_duration_seconds: 'histogram',
        gpu_scaler_cycle_lateness_seconds: 'gauge',
        gpu_scaler_db_logging_queue_size: 'gauge',
        gpu_scaler_db_logging_dropped_total: 'counter',
        gpu_scaler_db_logging_failed_total: 'counter',
        gpu_scaler_event_store_append_duration_seconds: 'histogram',
        gpu_scaler_projection_lag_events: 'gauge',
        gpu_scaler_provider_calls_total: 'counter',
        gpu_scaler_provider_call_duration_seconds: 'histogram',
        gpu_scaler_burn_rate_usd_per_hour: 'gauge',
        gpu_scaler_condition: 'gauge',
        gpu_scaler_build_info: 'gauge',
        gpu_scaler_leader: 'gauge',
        // the process and Node.js defaults, under their standard names
        process_cpu_seconds_total: 'counter',
        process_start_time_seconds: 'gauge',
        nodejs_eventloop_lag_seconds: 'gauge',
        nodejs_heap_size_used_bytes: 'gauge',
      };
      for (const [name, type] of Object.entries(types)) expect([name, s.types.get(name)]).toEqual([name, type]);

      expect(s.value('gpu_scaler_tasks_queued')).toBe(51);
      expect(s.value('gpu_scaler_tasks_active')).toBe(0);
      expect(s.value('gpu_scaler_tasks')).toBe(51);
      expect(s.value('gpu_scaler_desired_workers')).toBe(4);
      expect(s.value('gpu_scaler_decisions_total', { decision: 'MAINTAIN' })).toBe(2);
      expect(s.value('gpu_scaler_decisions_total', { decision: 'SCALE_UP' })).toBe(1);
      expect(s.value('gpu_scaler_spawns_total')).toBe(4);
      expect(s.value('gpu_scaler_anomalies_total', { kind: 'task_count_from_nowhere' })).toBe(1);
      expect(s.value('gpu_scaler_anomalies_total', { kind: 'rapid_scale_up' })).toBe(1);
      expect(s.value('gpu_scaler_anomalies_total', { kind: 'slow_task_source' })).toBe(1);
      const live =
        s.value('gpu_scaler_workers', { status: 'spawning' }) + s.value('gpu_scaler_workers', { status: 'active' });
      expect(live).toBe(4);
      expect(s.value('gpu_scaler_burn_rate_usd_per_hour', { provider: 'simulated' })).toBeCloseTo(6);
      expect(s.value('gpu_scaler_cycle_duration_seconds_count')).toBe(3);
      expect(s.value('gpu_scaler_task_source_duration_seconds_count', { source: 'scripted' })).toBe(3);
      expect(s.value('gpu_scaler_task_source_duration_seconds_bucket', { source: 'scripted', le: '5' })).toBe(2);
      expect(s.value('gpu_scaler_provider_calls_total', { operation: 'spawn', status: 'ok' })).toBe(4);
      expect(s.value('gpu_scaler_provider_call_duration_seconds_count', { operation: 'spawn' })).toBe(4);
      expect(s.value('gpu_scaler_event_store_append_duration_seconds_count')).toBeGreaterThanOrEqual(3);
      for (const projection of ['workers', 'scaling_decisions', 'anomalies', 'health_summaries', 'reactor'])
        expect([projection, s.value('gpu_scaler_projection_lag_events', { projection })]).toEqual([projection, 0]);
      expect(s.value('gpu_scaler_db_logging_queue_size')).toBeGreaterThanOrEqual(0);
      expect(s.value('gpu_scaler_db_logging_dropped_total')).toBe(0);
      // the conditions as recorded (this endpoint is given no live controller): 1 for the status each has
      expect(s.value('gpu_scaler_condition', { type: 'AbleToScale', status: 'True' })).toBe(1);
      expect(s.value('gpu_scaler_condition', { type: 'AbleToScale', status: 'False' })).toBe(0);
      expect(s.value('gpu_scaler_condition', { type: 'ScalingLimited', status: 'True' })).toBe(1); // MAX_WORKERS=4
      expect(s.value('gpu_scaler_condition', { type: 'SourceHealthy', status: 'True' })).toBe(1);
      expect(s.value('gpu_scaler_build_info', { node_version: process.version })).toBe(1);
      expect(s.value('gpu_scaler_leader')).toBe(0);
      // every metric of a pool says which: pool="default" in a deployment of one pool; the process's and the store's have none
      const family = (name: string) =>
        [...s.types.keys()]
          .filter((f) => name === f || name.startsWith(`${f}_`))
          .sort((a, b) => b.length - a.length)[0];
      const ours = s.samples.filter((x) => x.name.startsWith('gpu_scaler_'));
      expect(ours.length).toBeGreaterThan(20);
      for (const x of ours) {
        const pooled = !PROCESS_METRICS.includes(family(x.name));
        expect([x.name, x.labels.pool]).toEqual([x.name, pooled ? 'default' : undefined]);
      }
      // a pool's loop measures through its own view: its samples are its pool's
      metrics.forPool('video').cycleFinished(0.5);
      metrics.forPool('video').providerCall('spawn', 'ok', 0.1);
      metrics.forPool('video').setLeader(true);
      const pools = parseScrape(await metrics.text());
      expect(pools.value('gpu_scaler_cycle_duration_seconds_count', { pool: 'video' })).toBe(1);
      expect(pools.value('gpu_scaler_cycle_duration_seconds_count', { pool: 'default' })).toBe(3);
      expect(pools.value('gpu_scaler_provider_calls_total', { pool: 'video', operation: 'spawn' })).toBe(1);
      expect(pools.value('gpu_scaler_leader', { pool: 'video' })).toBe(1);
      expect(pools.value('gpu_scaler_leader', { pool: 'default' })).toBe(0);

      // every name follows the conventions: our prefix (the process and Node.js defaults keep their
      // standard names), counters end in _total
      for (const [name, type] of s.types) {
        expect(name).toMatch(/^(gpu_scaler|process|nodejs)_[a-z0-9_]+$/);
        if (type === 'counter') expect(name).toMatch(/_total$/);
      }

      // a scrape reads each event once: another scrape with no cycle in between counts nothing new
      const again = parseScrape(await (await fetch(`${base}/metrics`)).text());
      expect(again.value('gpu_scaler_spawns_total')).toBe(4);

      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ ready: true, reasons: [] });
      expect((await fetch(`${base}/nope`)).status).toBe(404);
    } finally {
      await endpoint.stop();
      await h.close();
    }
  }, 180_000);

  test('HTTP_TOKEN guards everything but /healthz; /readyz says why it is not ready', async () => {
    const h = await harness(backend());
    const endpoint = new HttpEndpoint({
      store: h.store,
      host: '127.0.0.1',
      port: 0,
      token: 's3cret-token',
      now: () => h.clock.now(),
      refreshSec: 30,
      readiness: async () => ({
        store: { ok: true, detail: 'reachable' },
        role: { ok: false, detail: 'the database is unreachable: connection refused' },
      }),
    });
    try {
      const { port } = await endpoint.start();
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      for (const path of ['/metrics', '/readyz', '/', '/api/state'])
        expect([path, (await fetch(`${base}${path}`)).status]).toEqual([path, 401]);
      expect((await fetch(`${base}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      const auth = { headers: { Authorization: 'Bearer s3cret-token' } };
      expect((await fetch(`${base}/metrics`, auth)).status).toBe(200);
      // a browser opens the dashboard with ?token=, which sets a cookie its assets and calls carry
      const page = await fetch(`${base}/?token=s3cret-token`);
      expect(page.status).toBe(200);
      const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0];
      expect(cookie).toBe('gpu_scaler_token=s3cret-token');
      expect((await fetch(`${base}/assets/uPlot.iife.min.js`, { headers: { Cookie: cookie } })).status).toBe(200);

      const ready = await fetch(`${base}/readyz`, auth);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({
        ready: false,
        reasons: ['role: the database is unreachable: connection refused'],
      });

      // a second endpoint on the same port is a clear error naming the setting
      const taken = new HttpEndpoint({
        store: h.store,
        host: '127.0.0.1',
        port,
        now: () => h.clock.now(),
        refreshSec: 1,
      });
      await expect(taken.start()).rejects.toThrow(`127.0.0.1:${port} is already in use: set HTTP_PORT to a free port`);
    } finally {
      await endpoint.stop();
      await h.close();
    }
  });
});
