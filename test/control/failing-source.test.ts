import { runStatus } from '../../src/cli/status';
import { nextConditions } from '../../src/control/conditions';
import { explain } from '../../src/explain/explain';
import { alertOf } from '../../src/observe/alert-rules';
import { policyLine, policyMath } from '../../src/policies/render';
import { recordedCycleList } from '../../src/what-if/record';
import { whatIf } from '../../src/what-if/replay';
import {
  BACKENDS,
  Capture,
  decided,
  forEachBackend,
  type Harness,
  harness,
  type ScriptedSource,
} from '../helpers/harness';

const AT = '2026-11-27T18:00:00.000Z';

describe('SourceHealthy with a fallback (pure)', () => {
  test('the fallback taking over is a change of reason; a valid count after it is SourceRecovered', () => {
    const failing = nextConditions(new Map(), {
      at: AT,
      source: { name: 'http', ok: false, reason: 'task source http failed: 503', failedCycles: 1 },
    });
    expect(failing.conditions[0]).toMatchObject({ status: 'False', reason: 'SourceFailed' });
    const held = nextConditions(new Map(failing.conditions.map((c) => [c.type, c])), {
      at: '2026-11-27T18:01:00.000Z',
      source: {
        name: 'http',
        ok: false,
        reason: 'task source http failed: 503',
        failedCycles: 3,
        fallback: { afterCycles: 3, workers: null },
      },
    });
    expect(held.changes.map((c) => [c.condition.status, c.condition.reason, c.previous?.reason])).toEqual([
      ['False', 'FleetHeldOnSourceFailure', 'SourceFailed'],
    ]);
    // the status did not change: since is when the source began failing
    expect(held.conditions[0]?.since).toBe(AT);
    expect(held.conditions[0]?.message).toBe(
      'no valid task count for 3 cycles in a row (SOURCE_FAILURE_CYCLES=3): the fleet is held as it is ' +
        '(no scale-down on missing data; FALLBACK_WORKERS unset) (http, the last: task source http failed: 503)',
    );
    const back = nextConditions(new Map(held.conditions.map((c) => [c.type, c])), {
      at: '2026-11-27T18:02:00.000Z',
      source: { name: 'http', ok: true, failedBefore: 4 },
    });
    expect(back.changes.map((c) => [c.condition.status, c.condition.reason])).toEqual([['True', 'SourceRecovered']]);
    expect(back.conditions[0]?.message).toBe(
      'http answered with a valid count again after 4 failed cycles: the policy decides again',
    );
  });
});

forEachBackend('a failing task source keeps a safe fleet', BACKENDS, (backend) => {
  let h: Harness & { source: ScriptedSource };
  afterEach(async () => {
    await h?.close();
  });

  /** Three workers up and idle past GPU_IDLE_TIMEOUT_SEC (the policy still wants them), then the source fails 5 cycles. */
  async function failFiveCycles(env: Record<string, string> = {}) {
    h = await harness(backend(), { env: { GPU_IDLE_TIMEOUT_SEC: '120', ...env } });
    h.source.set(3);
    for (let i = 0; i < 6; i++) await h.cycle(); // spawned and active
    h.clock.advance(600_000); // idle for 10 minutes: any scale-down on missing data could take them
    h.source.set(3);
    await h.cycle();
    expect((await h.provider.list()).length).toBe(3);
    h.source.error = new Error('503 Service Unavailable');
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await h.cycle());
    return outcomes;
  }

  test('SOURCE_FAILURE_CYCLES=3 (default), FALLBACK_WORKERS unset: the fleet is held, the switch recorded both ways', async () => {
    const outcomes = await failFiveCycles();
    expect(outcomes.map((o) => o.kind)).toEqual(['rejected', 'rejected', 'decided', 'decided', 'decided']);
    for (const o of outcomes.slice(2)) {
      const d = decided(o).decision;
      expect(d).toMatchObject({ decision: 'MAINTAIN', desired: 3, delta: 0, terminate: [] });
      expect(d.policy.name).toBe('fallback');
      expect(policyLine(d.policy, d.desiredBeforeCaps)).toBe('fallback: live workers held = 3');
    }
    expect(decided(outcomes[4]).decision.reasons[0]).toBe(
      'no valid task count for 5 cycles in a row (SOURCE_FAILURE_CYCLES=3): the fleet is held as it is (no scale-down on missing data; FALLBACK_WORKERS unset)',
    );
    expect((await h.provider.list()).length).toBe(3);
    expect(await h.events('WorkerTerminationRequested')).toEqual([]);
    // status says it: the condition and the fallback's decision with its reason
    const stdout = new Capture();
    const io = { stdout, stderr: new Capture(), stdin: process.stdin, env: {}, isTTY: false };
    await runStatus(h.store, { kind: 'memory' }, { json: false, utc: true, windowMs: 3_600_000, windowText: '1h' }, io);
    expect(stdout.text).toMatch(
      /\n {2}SourceHealthy=False \(FleetHeldOnSourceFailure\) since .*: no valid task count for 3 cycles in a row/,
    );
    expect(stdout.text).toContain('  policy    fallback: live workers held = 3');
    expect(stdout.text).toContain('  reasons   no valid task count for 5 cycles in a row (SOURCE_FAILURE_CYCLES=3)');

    // the source answers again: recovered, recorded; the policy decides from the count
    h.source.error = null;
    h.source.set(1);
    const back = decided(await h.cycle());
    expect(back.decision.policy.name).not.toBe('fallback');

    const changes = (await h.events('ConditionChanged')).filter((e) => e.data.type === 'SourceHealthy');
    expect(changes.map((e) => [e.data.status, e.data.reason])).toEqual([
      ['True', 'TaskCountAccepted'],
      ['False', 'SourceFailed'],
      ['False', 'FleetHeldOnSourceFailure'],
      ['True', 'SourceRecovered'],
    ]);
    // an alert when the fallback takes over and when it ends
    const alerts = changes.map((e) => alertOf(e)).filter((a) => a !== null);
    expect(alerts.map((a) => a.title)).toEqual([
      '🧯 Task source failing: fleet held',
      '✅ Task source recovered: the policy decides again',
    ]);
    // explain's timeline says when it began and ended
    const lines = explain(await h.events()).timeline.map((l) => l.text);
    expect(lines).toContainEqual(
      expect.stringMatching(/^🚦 CONDITION SourceHealthy=False \(FleetHeldOnSourceFailure\)/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /SourceHealthy=True \(SourceRecovered\).*ended SourceHealthy=False \(FleetHeldOnSourceFailure\)/,
      ),
    );
    expect(h.system.controller.conditions().find((c) => c.type === 'SourceHealthy')?.reason).toBe('SourceRecovered');
  });

  test('FALLBACK_WORKERS=2: the fleet goes to 2 once the source has failed SOURCE_FAILURE_CYCLES cycles', async () => {
    const outcomes = await failFiveCycles({ FALLBACK_WORKERS: '2' });
    expect(outcomes.map((o) => o.kind)).toEqual(['rejected', 'rejected', 'decided', 'decided', 'decided']);
    const first = decided(outcomes[2]).decision;
    expect(first).toMatchObject({ decision: 'SCALE_DOWN', desired: 2, delta: 1 });
    expect(policyLine(first.policy, first.desiredBeforeCaps)).toBe('fallback: FALLBACK_WORKERS=2');
    expect(outcomes.slice(3).map((o) => decided(o).decision.decision)).toEqual(['MAINTAIN', 'MAINTAIN']);
    expect((await h.provider.list()).length).toBe(2);
    const held = (await h.events('ConditionChanged')).filter((e) => e.data.type === 'SourceHealthy').pop();
    expect(held?.data).toMatchObject({ status: 'False', reason: 'FallbackWorkers' });
    // what-if replays the policy's cycles only: the fallback's decisions (no count) are left out
    const cycles = recordedCycleList(await h.events());
    expect(cycles.map((c) => c.decision.policy.name)).not.toContain('fallback');
    expect(cycles.length).toBe((await h.events('TaskCountObserved')).length);
    const result = whatIf(cycles, [], { set: { MAX_WORKERS: '2' } }, (d) => policyMath(d.policy, d.desiredBeforeCaps));
    expect(result.totals.whatIf.gpuHours).toBeGreaterThan(0);
  });

  test('a restart while the source fails keeps counting the failed cycles from the record', async () => {
    h = await harness(backend(), { env: { SOURCE_FAILURE_CYCLES: '2' } });
    h.source.set(1);
    await h.cycle();
    h.source.error = new Error('down');
    expect((await h.cycle()).kind).toBe('rejected');
    const system = await h.restart();
    h.clock.advance(30_000);
    const out = await system.step();
    expect(decided(out).decision.policy.name).toBe('fallback');
  });
});
