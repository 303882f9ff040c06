import { type AppEvent, appRegistry } from '../../events/index';
import { summarize } from '../../src/cli/events';

/** An event as `gpu-scaler events` gets it, its data validated by the event's own schema. */
function event(
  type: AppEvent['type'],
  data: Record<string, unknown>,
  streamId: string,
): AppEvent & { streamId: string } {
  return { ...appRegistry.read(1, type, 1, data), streamId };
}

describe('gpu-scaler events: one line in words for the operator, reload and parking events', () => {
  test('a pause and a set with --for read as the overrides list says them, not as JSON', () => {
    const pause = summarize(
      event(
        'OperatorCommandIssued',
        { at: '2026-12-06T03:00:00.000Z', by: 'ana@ops-1', reason: 'incident 123', command: 'pause', pool: '*' },
        'operator',
      ),
    );
    expect(pause).toBe('all pools: paused by ana@ops-1 at 03:00 UTC: incident 123 (until a later command ends it)');
    const set = summarize(
      event(
        'OperatorCommandIssued',
        {
          at: '2026-12-06T03:12:00.000Z',
          by: 'ana@ops-1',
          reason: 'incident 124',
          command: 'set',
          pool: 'default',
          key: 'MAX_ACTIVE_GPUS',
          value: '2',
          forSec: 7200,
          until: '2026-12-06T05:12:00.000Z',
        },
        'operator',
      ),
    );
    expect(set).toContain('pool default: MAX_ACTIVE_GPUS=2 set by ana@ops-1 at 03:12 UTC for 2 h: incident 124');
    const resume = summarize(
      event(
        'OperatorCommandIssued',
        { at: '2026-12-06T03:20:00.000Z', by: 'ana@ops-1', reason: 'fixed', command: 'resume', pool: '*' },
        'operator',
      ),
    );
    expect(resume).toBe('all pools: resume by ana@ops-1: fixed');
  });

  test('an override that expired', () => {
    const s = summarize(
      event(
        'OperatorOverrideEnded',
        {
          at: '2026-12-06T05:12:01.000Z',
          commandId: 'c1',
          command: 'set',
          pool: '*',
          key: 'MAX_ACTIVE_GPUS',
          how: 'expired',
          cycle: 40,
        },
        'operator',
      ),
    );
    expect(s).toBe('the set of MAX_ACTIVE_GPUS (all pools) expired: its time was up');
  });

  test('a reload and a refused reload name the keys and the problems', () => {
    const base = { at: '2026-12-06T03:02:10.000Z', file: 'live.env', process: 'vm:1' };
    const ok = summarize(
      event('ConfigReloaded', { ...base, changes: [{ key: 'MAX_WORKERS', from: '10', to: '4' }] }, 'config'),
    );
    expect(ok).toContain('RELOADED from live.env: MAX_WORKERS 10 -> 4');
    const refused = summarize(
      event(
        'ConfigReloadRefused',
        { ...base, changes: [], problems: ['MAX_ACTIVE_GPUS="-2" is not allowed: expected a number >= 0'] },
        'config',
      ),
    );
    expect(refused).toContain('RELOAD REFUSED from live.env: MAX_ACTIVE_GPUS="-2" is not allowed');
  });

  test('no event type falls back to raw JSON when it has words elsewhere', () => {
    const quarantined = summarize(
      event(
        'EventQuarantined',
        {
          at: '2026-12-06T03:00:00.000Z',
          position: 7,
          streamId: 'controller',
          streamVersion: 3,
          eventId: 'e7',
          eventType: 'ScalingDecided',
          schemaVersion: 1,
          error: 'bad data',
        },
        'quarantine',
      ),
    );
    expect(quarantined).toContain('the ScalingDecided at global_position 7');
    expect(quarantined.startsWith('{')).toBe(false);
    const orphan = summarize(
      event(
        'OrphanPodTerminated',
        {
          at: '2026-12-06T03:00:00.000Z',
          cycle: 10,
          provider: 'runpod',
          podId: 'p1',
          name: 'gpu-scaler-c3-1',
          idempotencyKey: 'c3-1',
          reason: 'no worker c3-1 was ever requested',
        },
        'reconciliation',
      ),
    );
    expect(orphan).toBe(
      '🧹 ORPHAN POD TERMINATED: gpu-scaler-c3-1 (pod p1 on runpod): no worker c3-1 was ever requested',
    );
  });
});
