import { type PodInfo, type Provider, ProviderError, type SpawnRequest } from '../../src/providers/provider';
import { pgliteBackend, postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { decided, forEachBackend, harness } from '../helpers/harness';

// biome-ignore lint/suspicious/noExplicitAny: event data in assertions
type Any = any;

/** A provider that fails every spawn with the given error. */
class RefusingProvider implements Provider {
  readonly name = 'refusing';
  readonly gpusPerWorker = 1;
  calls = 0;
  constructor(private readonly error: () => Error) {}
  async spawn(_req: SpawnRequest): Promise<PodInfo> {
    this.calls += 1;
    throw this.error();
  }
  async terminate(): Promise<void> {}
  async list(): Promise<PodInfo[]> {
    return [];
  }
}

forEachBackend(
  'fleet safety',
  { pglite: pgliteBackend, postgres: () => postgresBackend(), hasServer: !!TEST_DATABASE_URL },
  (backend) => {
    let h: Awaited<ReturnType<typeof harness>>;
    afterEach(async () => {
      await h?.close();
    });

    test('the circuit breaker stops spawning after most spawns fail, with an anomaly, and resumes when the window clears', async () => {
      h = await harness(backend(), { env: { SIM_FAILURE_RATE: '1' } });
      h.source.set(3);
      await h.cycle(); // 3 spawns fail
      await h.cycle(); // 3 more fail: 6 of 6
      const blocked = decided(await h.cycle());
      expect(blocked.decision).toMatchObject({ decision: 'MAINTAIN', delta: 0 });
      expect(blocked.decision.spawnBlocked).toMatch(/circuit breaker open: 6 of 6 spawns failed in the last 300s/);
      expect(blocked.anomalies.map((a) => a.kind)).toContain('circuit_breaker_open');
      expect(h.stdout.text).toContain('🚨 ANOMALY DETECTED: Circuit breaker open');
      const again = decided(await h.cycle());
      expect(again.decision.decision).toBe('MAINTAIN');
      expect(again.anomalies.map((a) => a.kind)).not.toContain('circuit_breaker_open'); // raised once
      expect((await h.events('WorkerSpawnFailed')).length).toBe(6);
      for (let i = 0; i < 10; i++) h.clock.advance(30_000);
      const resumed = await h.cycle();
      expect(resumed).toMatchObject({ kind: 'decided', decision: { decision: 'SCALE_UP', delta: 3 } });
    });

    test('capacity failures never trip the breaker', async () => {
      const provider = new RefusingProvider(
        () => new ProviderError('capacity', 'There are no longer any instances available'),
      );
      h = await harness(backend(), { provider });
      h.source.set(3);
      for (let i = 0; i < 4; i++) await h.cycle();
      const outs = (await h.events('ScalingDecided')).map((e) => e.data);
      expect(outs.map((d) => d.decision)).toEqual(['SCALE_UP', 'SCALE_UP', 'SCALE_UP', 'SCALE_UP']);
      expect(outs.map((d) => d.spawnBlocked)).toEqual([null, null, null, null]);
      // after the first capacity failure of a decision the rest are recorded, not tried
      expect(provider.calls).toBe(4);
      const failed = (await h.events('WorkerSpawnFailed')).map((e) => e.data);
      expect(failed.filter((f) => f.kind === 'capacity')).toHaveLength(12);
      expect(failed[1].error).toMatch(/not attempted: no capacity/);
    });

    test('a provider that refuses our credentials stops spawning with a critical log and an anomaly', async () => {
      const provider = new RefusingProvider(() => new ProviderError('auth', 'RunPod answered 401: invalid API key'));
      h = await harness(backend(), { provider });
      h.source.set(2);
      await h.cycle();
      expect(provider.calls).toBe(1);
      const failed = (await h.events('WorkerSpawnFailed')).map((e) => e.data);
      expect(failed.map((f) => f.kind)).toEqual(['auth', 'blocked']);
      const next = decided(await h.cycle());
      expect(next.decision.decision).toBe('MAINTAIN');
      expect(next.decision.spawnBlocked).toMatch(/refused our credentials/);
      expect(next.anomalies.map((a) => a.kind)).toEqual(['provider_auth_failed']);
      expect(h.stdout.text).toMatch(/CRIT +❌ CRITICAL: the provider refused our credentials/);
      await h.cycle();
      expect(provider.calls).toBe(1);
    });

    test('reconciliation terminates an orphan pod and records it; pods of live workers are kept', async () => {
      h = await harness(backend());
      h.source.set(1);
      await h.cycle();
      const orphan = await h.provider.spawn({ workerId: 'leaked', idempotencyKey: 'test-pod-from-yesterday' });
      for (let i = 0; i < 9; i++) await h.cycle(); // cycle 10 reconciles
      const events = (await h.events('OrphanPodTerminated')).map((e) => e.data);
      expect(events).toMatchObject([
        { cycle: 10, podId: orphan.podId, idempotencyKey: 'test-pod-from-yesterday', provider: 'simulated' },
      ]);
      expect(events[0].reason).toBe('no worker test-pod-from-yesterday was ever requested');
      const live = await h.provider.list();
      expect(live.map((p) => p.podId)).not.toContain(orphan.podId);
      expect(live).toHaveLength(1);
      expect(h.stdout.text).toContain(
        // the log's words are explain's and events' (one renderer)
        `🧹 ORPHAN POD TERMINATED: gpu-scaler-test-pod-from-yesterday (pod ${orphan.podId} on ${h.provider.name}): `,
      );
      expect(h.stderr.text).toContain('ORPHAN POD TERMINATED');
    });

    test('a restarted controller still counts the anomalies since the last health summary', async () => {
      h = await harness(backend(), { env: { HEALTH_SUMMARY_EVERY_CYCLES: '5', MAX_ACTIVE_GPUS: '4' } });
      h.source.set(0);
      await h.cycle();
      h.source.set(51); // cycle 2: from nowhere + rapid scale-up
      await h.cycle();
      // a new controller on the same store (a restart)
      const restarted = await h.restart();
      expect(restarted.controller.cycle).toBe(2);
      for (let i = 0; i < 3; i++) await restarted.step();
      const [summary] = (await h.events('HealthSummaryRecorded')).map((e) => e.data);
      expect(summary).toMatchObject({
        cycle: 5,
        anomaliesSinceLast: 2,
        anomalyKinds: { rapid_scale_up: 1, task_count_from_nowhere: 1 },
      });
    });

    test('WORKER_MAX_LIFETIME_SEC replaces a worker past its lifetime', async () => {
      h = await harness(backend(), { env: { WORKER_MAX_LIFETIME_SEC: '120' } });
      h.source.set(1);
      for (let i = 0; i < 8; i++) await h.cycle(); // expires at cycle 7 (150 s > 120 s); its replacement is up by 8
      const terminated = (await h.events('WorkerTerminated')).map((e) => e.data);
      expect(terminated).toHaveLength(1);
      expect(terminated[0]).toMatchObject({ reason: 'lifetime', failed: false });
      const rows = await h.store.db.query<Any>('select status from workers order by requested_at');
      expect(rows.map((r) => r.status)).toEqual(['terminated', 'active']);
    });
  },
);
