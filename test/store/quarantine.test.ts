/**
 * One unreadable row no longer stops everything (issue #24.3): a row no schema reads, inserted by
 * hand as the writer could, made every later cycle fail ("stored event at global_position 11 cannot
 * be read"), `status` and `replay` exit 1, 0 pods for 40 queued. Now it is quarantined once, skipped
 * by every reader and projection, said as an anomaly (so an alert), and listed by
 * `events --quarantined`. On the embedded store, the default users get.
 */
import { rebuildProjections } from '../../src/projections/rebuild';
import { runOnStore } from '../cli/run-cli';
import { pgliteBackend, type TestBackend } from '../helpers/backends';
import { type Harness, harness, type ScriptedSource } from '../helpers/harness';

describe('an unreadable stored event', () => {
  let backend: TestBackend;
  let h: Harness & { source: ScriptedSource };
  beforeAll(() => {
    backend = pgliteBackend();
  });
  afterEach(async () => {
    await h?.close();
  });
  afterAll(async () => {
    await backend.teardown();
  });

  test('is quarantined once and skipped: cycles go on and spawn, an anomaly says so, status, replay and events work', async () => {
    h = await harness(backend);
    h.source.set(4);
    await h.cycle();
    const [{ p: poison }] = await h.store.db.query<{ p: number }>(
      `insert into events (stream_id, stream_version, event_id, event_type, schema_version, data)
       values ('poison-1', 1, gen_random_uuid(), 'ScalingDecided', 2, '{"cycle":"oops"}') returning global_position as p`,
    );
    h.source.set(40);
    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push(await h.cycle());
    expect(outcomes.map((o) => o.kind)).toEqual(['decided', 'decided', 'decided', 'decided']);
    await h.store.settled();
    expect((await h.provider.list()).length).toBeGreaterThan(4);

    const records = await h.events('EventQuarantined');
    expect(records.map((e) => e.data)).toEqual([
      expect.objectContaining({
        position: poison,
        streamId: 'poison-1',
        eventType: 'ScalingDecided',
        schemaVersion: 2,
        error: expect.stringContaining('cycle'),
      }),
    ]);
    const anomalies = (await h.events('AnomalyDetected')).filter((e) => e.data.kind === 'event_quarantined');
    expect(anomalies).toHaveLength(1);
    expect(anomalies[0].data.message).toContain(`global_position ${poison} (ScalingDecided, stream poison-1)`);
    expect(h.stdout.text).toContain(`global_position ${poison} (ScalingDecided, stream poison-1) cannot be read`);

    // a restart reads the controller stream again: nothing new is recorded or said
    const system = await h.restart();
    await system.controller.init();
    await system.step();
    await system.store.settled();
    expect(await h.events('EventQuarantined')).toHaveLength(1);

    const target = { kind: 'pglite' as const, dataDir: h.dir };
    const status = await runOnStore(h.store, target, ['status']);
    expect(status.code).toBe(0);
    const replay = await rebuildProjections(h.store);
    expect(replay.events).toBeGreaterThan(0);
    const listed = await runOnStore(h.store, target, ['events', '--quarantined', '--json']);
    expect(listed.code).toBe(0);
    const shown = JSON.parse(listed.stdout) as { type: string; data: { position: number } }[];
    expect(shown.map((e) => [e.type, e.data.position])).toEqual([['EventQuarantined', poison]]);
  });
});
