import { Readable } from 'node:stream';
import { ALL_POOLS } from '../../events/operator';
import { issueCommand, type OperatorCommandInput } from '../../src/cli/operator';
import { runStatus } from '../../src/cli/status';
import { readOverrides } from '../../src/control/overrides';
import { explain } from '../../src/explain/explain';
import { HttpEndpoint } from '../../src/observe/http';
import { parseDatabaseUrl } from '../../src/store/open';
import { BACKENDS, Capture, decided, forEachBackend, harness } from '../helpers/harness';

const by = 'ana@ops-1';

forEachBackend('operator commands, obeyed by the controller', BACKENDS, (backend) => {
  let h: Awaited<ReturnType<typeof harness>>;
  afterEach(async () => {
    await h?.close();
  });

  const command = (c: Omit<OperatorCommandInput, 'by' | 'pool'> & { pool?: string }) =>
    issueCommand(h.store, { by, pool: 'default', ...c }, h.clock.now());

  test('pause --all stops every spawn from the next cycle, says whose and why; resume lets them go', async () => {
    h = await harness(backend());
    h.source.set(5);
    await command({ command: 'pause', pool: ALL_POOLS, reason: 'incident 123' });
    const paused = decided(await h.cycle());
    expect(paused.decision.decision).toBe('MAINTAIN');
    expect(paused.decision.delta).toBe(0);
    expect(paused.decision.desired).toBe(5);
    expect(paused.decision.spawnBlocked).toBe('paused by ana@ops-1 at 18:00 UTC: incident 123');
    expect(await h.events('WorkerSpawnRequested')).toEqual([]);
    const [recorded] = await h.events('ScalingDecided');
    expect(recorded.data.overrides.map((o) => [o.command, o.pool, o.by, o.reason])).toEqual([
      ['pause', '*', by, 'incident 123'],
    ]);
    expect(decided(await h.cycle()).decision).toMatchObject({ decision: 'MAINTAIN', delta: 0 });
    expect(await h.events('WorkerSpawnRequested')).toEqual([]);

    await command({ command: 'resume', reason: 'fixed' });
    const resumed = decided(await h.cycle());
    expect(resumed.decision).toMatchObject({ decision: 'SCALE_UP', delta: 5, spawnBlocked: null });
    expect((await h.events('ScalingDecided')).at(-1)?.data.overrides).toEqual([]);
  });

  test('set MAX_ACTIVE_GPUS=2 --for 2h caps from the next cycle, expires on time, and the expiry is recorded once', async () => {
    h = await harness(backend());
    h.source.set(5);
    await command({ command: 'set', key: 'MAX_ACTIVE_GPUS', value: '2', reason: 'incident 123', forSec: 7200 });
    const capped = decided(await h.cycle());
    expect(capped.decision).toMatchObject({ decision: 'SCALE_UP', delta: 2, desired: 2 });
    expect(capped.decision.limits.map((l) => [l.name, l.value, l.from, l.to])).toEqual([['MAX_ACTIVE_GPUS', 2, 5, 2]]);
    const first = (await h.events('ScalingDecided'))[0];
    expect(first.data.settings.MAX_ACTIVE_GPUS).toBe(2);

    // explain names the command in force in the decision's words
    const e = explain(await h.events(), { focusCycle: 1 });
    expect(e.conclusion).toContain(
      'MAX_ACTIVE_GPUS=2, set by ana@ops-1 at 18:00 UTC for 2 h: incident 123 cut it from 5 to 2',
    );

    // still in force just before its time is up
    h.clock.set(new Date('2026-11-27T19:59:00.000Z'));
    expect(decided(await h.cycle()).decision.limits.map((l) => l.name)).toEqual(['MAX_ACTIVE_GPUS']);
    expect(await h.events('OperatorOverrideEnded')).toEqual([]);

    h.clock.set(new Date('2026-11-27T20:00:00.000Z'));
    const after = decided(await h.cycle());
    expect(after.decision.limits).toEqual([]);
    expect(after.decision).toMatchObject({ decision: 'SCALE_UP', delta: 3, desired: 5 });
    const ended = await h.events('OperatorOverrideEnded');
    expect(ended.map((x) => [x.data.how, x.data.key, x.data.at, x.data.cycle])).toEqual([
      ['expired', 'MAX_ACTIVE_GPUS', '2026-11-27T20:00:00.000Z', 3],
    ]);
    await h.cycle();
    expect(await h.events('OperatorOverrideEnded')).toHaveLength(1);
    const view = await readOverrides(h.store, h.clock.now());
    expect(view.inForce).toEqual([]);
    expect(view.ended.map((o) => o.ended?.how)).toEqual(['expired']);
  });

  test('drain: no spawns, idle workers go as they go idle (no idle timeout), and explain says it', async () => {
    h = await harness(backend());
    h.source.set(2);
    await h.cycle();
    h.clock.advance(15_000);
    h.source.set(0, 1); // one worker still holds a task
    expect(decided(await h.cycle()).decision.current.active).toBe(2);
    await command({ command: 'drain', reason: 'moving to pool b' });
    h.source.set(3, 1);
    const draining = decided(await h.cycle());
    expect(draining.decision).toMatchObject({ decision: 'SCALE_DOWN', delta: 1, desired: 0 });
    expect(draining.decision.spawnBlocked).toBe('draining by ana@ops-1 at 18:01 UTC: moving to pool b');
    expect(draining.decision.terminate).toHaveLength(1);
    expect(draining.decision.limits.map((l) => [l.name, l.to])).toEqual([['drain', 0]]);
    expect(await h.events('WorkerSpawnRequested')).toHaveLength(2); // the two before the drain
    const e = explain(await h.events(), { focusCycle: draining.cycle });
    expect(e.conclusion).toContain('a drain, draining by ana@ops-1 at 18:01 UTC: moving to pool b cut it from');
  });

  test('a later set of the same key replaces the earlier one; unset goes back to the configuration', async () => {
    h = await harness(backend());
    h.source.set(8);
    await command({ command: 'set', key: 'MAX_WORKERS', value: '3', reason: 'a' });
    await command({ command: 'set', key: 'MAX_WORKERS', value: '4', reason: 'b' });
    expect(decided(await h.cycle()).decision.desired).toBe(4);
    const view = await readOverrides(h.store, h.clock.now());
    expect(view.inForce.map((o) => o.value)).toEqual(['4']);
    expect(view.ended.map((o) => [o.value, o.ended?.how])).toEqual([['3', 'ended by a later command']]);
    await command({ command: 'unset', key: 'MAX_WORKERS', reason: null });
    expect(decided(await h.cycle()).decision.desired).toBe(8);
  });

  test('status: the workers table is not printed under the overrides as if it were one of them', async () => {
    h = await harness(backend());
    h.source.set(2);
    for (let i = 0; i < 3; i++) await h.cycle();
    await command({ command: 'pause', pool: ALL_POOLS, reason: 'incident 123' });
    await h.cycle();
    const stdout = new Capture();
    const io = { stdout, stderr: new Capture(), stdin: Readable.from([]), env: {}, isTTY: false };
    await runStatus(
      h.store,
      parseDatabaseUrl('memory://'),
      { now: h.clock.now(), windowMs: 3_600_000, windowText: '1h', utc: true, json: false },
      io,
    );
    const lines = stdout.text.split('\n');
    const table = lines.findIndex((l) => /^\s*WORKER\s+POD\s+STATUS/.test(l));
    expect(table).toBeGreaterThan(0);
    expect(lines[table - 1]).toBe('');
    const heading = lines.indexOf('Overrides in force (gpu-scaler overrides):');
    expect(lines[heading + 1]).toMatch(/^ {2}all pools: paused by ana@ops-1 at \S+ UTC: incident 123/);
  });

  test('status and the dashboard (/api/state) list the overrides in force', async () => {
    h = await harness(backend());
    await command({ command: 'pause', pool: ALL_POOLS, reason: 'incident 123', forSec: 3600 });
    await h.cycle();
    const stdout = new Capture();
    const io = { stdout, stderr: new Capture(), stdin: Readable.from([]), env: {}, isTTY: false };
    await runStatus(
      h.store,
      parseDatabaseUrl('memory://'),
      { now: h.clock.now(), windowMs: 3_600_000, windowText: '1h', utc: true, json: false },
      io,
    );
    expect(stdout.text).toContain(
      'Overrides in force (gpu-scaler overrides):\n  all pools: paused by ana@ops-1 at 18:00 UTC for 1 h: incident 123 (until 2026-11-27 19:00 UTC)',
    );
    const endpoint = new HttpEndpoint({
      store: h.store,
      host: '127.0.0.1',
      port: 0,
      now: () => h.clock.now(),
      refreshSec: 30,
    });
    const state = (await endpoint.state('1h')) as { overrides: { command: string; text: string }[] };
    expect(state.overrides.map((o) => [o.command, o.text])).toEqual([
      ['pause', 'all pools: paused by ana@ops-1 at 18:00 UTC for 1 h: incident 123 (until 2026-11-27 19:00 UTC)'],
    ]);
  });
});
