import type { NewDataOf } from '../../events/index';
import { loadConfig } from '../../src/config';
import { applyOverrides, checkOverride, foldOverrides, policySettingProblem } from '../../src/control/overrides';
import type { StoredEvent } from '../../src/store/event-store';

let position = 0;
function issued(data: Partial<NewDataOf<'OperatorCommandIssued'>> & { at: string }): StoredEvent {
  position += 1;
  return {
    globalPosition: position,
    streamId: 'operator',
    streamVersion: position,
    eventId: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
    schemaVersion: 1,
    metadata: {},
    txId: String(position),
    recordedAt: new Date(data.at),
    type: 'OperatorCommandIssued',
    data: {
      by: 'ana@ops-1',
      reason: 'incident 123',
      command: 'pause',
      pool: 'default',
      key: null,
      value: null,
      forSec: null,
      until: null,
      ...data,
    },
  };
}

describe('the overrides fold (pure)', () => {
  test('an override whose time was up before a later command ended by expiry, not by that command', () => {
    const set = issued({
      at: '2026-12-06T03:00:00.000Z',
      command: 'set',
      key: 'MAX_WORKERS',
      value: '2',
      forSec: 600,
      until: '2026-12-06T03:10:00.000Z',
    });
    const unset = issued({ at: '2026-12-06T03:20:00.000Z', command: 'unset', key: 'MAX_WORKERS' });
    const view = foldOverrides([unset, set], new Date('2026-12-06T03:30:00.000Z'));
    expect(view.inForce).toEqual([]);
    expect(view.ended.map((o) => o.ended)).toEqual([
      { how: 'expired', at: '2026-12-06T03:10:00.000Z', recorded: false },
    ]);
    expect(view.unrecordedExpiries.map((o) => o.commandId)).toEqual([set.eventId]);
  });

  test('resume --pool default ends a pause --all; a pause of the pool replaces its earlier one', () => {
    const all = issued({ at: '2026-12-06T03:00:00.000Z', pool: '*' });
    const first = issued({ at: '2026-12-06T03:01:00.000Z' });
    const second = issued({ at: '2026-12-06T03:02:00.000Z', reason: 'still' });
    const during = foldOverrides([all, first, second], new Date('2026-12-06T03:03:00.000Z'));
    expect(during.inForce.map((o) => o.commandId)).toEqual([all.eventId, second.eventId]);
    const applied = applyOverrides(loadConfig({}), during.inForce);
    expect(applied.pause?.commandId).toBe(second.eventId);
    const resume = issued({ at: '2026-12-06T03:04:00.000Z', command: 'resume', reason: null });
    const after = foldOverrides([all, first, second, resume], new Date('2026-12-06T03:05:00.000Z'));
    expect(after.inForce).toEqual([]);
    expect(applyOverrides(loadConfig({}), after.inForce).pause).toBeNull();
  });

  test('GPU_IDLE_TIMEOUT_SEC set by an operator also sets the policy’s own idle time (as loadConfig does)', () => {
    const set = issued({ at: '2026-12-06T03:00:00.000Z', command: 'set', key: 'GPU_IDLE_TIMEOUT_SEC', value: '60' });
    const view = foldOverrides([set], new Date('2026-12-06T03:01:00.000Z'));
    const applied = applyOverrides(loadConfig({}), view.inForce);
    expect(applied.config.GPU_IDLE_TIMEOUT_SEC).toBe(60);
    expect(applied.config.WARM_IDLE_SEC).toBe(60); // the default policy's idle setting
  });

  test('a policy setting for a pool whose policy is another is refused, naming both', () => {
    expect(policySettingProblem('KEDA_QUEUE_TARGET', 'default')).toMatch(
      /^KEDA_QUEUE_TARGET is a setting of POLICY=keda, but the pool's policy is default \(its last decision\): it would change nothing/,
    );
    expect(policySettingProblem('MIN_ACTIVE_GPUS', 'operators')).toBeNull();
    expect(policySettingProblem('MAX_WORKERS', 'keda')).toBeNull();
    expect(policySettingProblem('KEDA_QUEUE_TARGET', null)).toBeNull();
  });

  test('checkOverride: the configuration’s message for a bad value, a hint for a misspelt key', () => {
    expect(checkOverride('MAX_HOURLY_COST_USD', '-3')).toEqual([
      'MAX_HOURLY_COST_USD="-3" is not allowed: expected a number >= 0',
    ]);
    expect(checkOverride('MAX_WORKRS', '3')[0]).toMatch(
      /^MAX_WORKRS is not a setting of ours: did you mean MAX_WORKERS\?/,
    );
    expect(checkOverride('POLICY', 'keda')[0]).toMatch(/^POLICY cannot be set by a command/);
    expect(checkOverride('MAX_WORKERS', '3')).toEqual([]);
  });

  test('checkOverride: a setting no command sets says how it can change: SIGHUP when a reload may change it, else a restart', () => {
    const policy = checkOverride('POLICY', 'keda')[0];
    expect(policy).toContain('change POLICY in the configuration and send SIGHUP');
    const store = checkOverride('DATABASE_URL', 'postgres://x')[0];
    expect(store).toContain('change DATABASE_URL in the configuration and restart the service');
    expect(store).not.toContain('SIGHUP reloads it');
    expect(checkOverride('HTTP_PORT', '9000')[0]).toContain('restart the service');
  });
});
