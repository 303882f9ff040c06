import { AlertGrouper, alertOf, slackMessage } from '../../src/observe/alert-rules';
import type { StoredEvent } from '../../src/store/event-store';

// Hand-made events, some deliberately not of an alerting type or shape: built loosely, then typed.
const event = (type: string, data: unknown, eventId = 'e1'): StoredEvent =>
  ({
    globalPosition: 1,
    streamId: 'controller',
    streamVersion: 1,
    eventId,
    type,
    schemaVersion: 1,
    data,
    metadata: {},
    txId: '1',
    recordedAt: new Date(0),
  }) as StoredEvent;
const breaker = (at: string) =>
  event('AnomalyDetected', {
    cycle: 7,
    at,
    kind: 'circuit_breaker_open',
    message: '4 of 5 spawns failed',
    figures: { failed: 4 },
    causes: [],
  });

describe('alert rules', () => {
  test('anomalies and unhealthy checks are alerts; a healthy check or a decision is not', () => {
    const a = alertOf(breaker('2026-11-27T18:00:00.000Z'));
    expect(a).toMatchObject({ key: 'anomaly:circuit_breaker_open', cycle: 7, text: '4 of 5 spawns failed' });
    expect(a?.title).toContain('Circuit breaker open');
    expect(alertOf(event('ScalingDecided', {}))).toBeNull();
  });

  test('repeats within the window are held and counted in the next one sent', () => {
    const g = new AlertGrouper(600_000);
    const send = (at: string) => {
      const a = alertOf(breaker(at));
      if (!a) throw new Error('no alert');
      const d = g.decide(a);
      g.record(a, d);
      return d;
    };
    expect(send('2026-11-27T18:00:00.000Z')).toEqual({ send: true, repeats: 0 });
    expect(send('2026-11-27T18:05:00.000Z')).toEqual({ send: false });
    expect(send('2026-11-27T18:09:59.000Z')).toEqual({ send: false });
    expect(send('2026-11-27T18:10:00.000Z')).toEqual({ send: true, repeats: 2 });
  });

  test('the message is what a Slack incoming webhook takes: text plus blocks', () => {
    const a = alertOf(breaker('2026-11-27T18:00:00.000Z'));
    if (!a) throw new Error('no alert');
    const m = slackMessage(a, 3, 600);
    expect(m.text).toContain(
      '(3 more like it since the last alert of this kind, held back: ALERT_GROUP_WINDOW_SEC=600)',
    );
    expect(m.blocks.map((b) => b.type)).toEqual(['header', 'section', 'context']);
    expect(JSON.stringify(m.blocks[2])).toContain('gpu-scaler explain --cycle 7');
  });

  test('an alert names its pool: always beyond pool default, and pool default too when there are several', () => {
    const inVideo = event('AnomalyDetected', {
      cycle: 7,
      at: '2026-11-27T18:00:00.000Z',
      pool: 'video',
      kind: 'circuit_breaker_open',
      message: '4 of 5 spawns failed',
      figures: {},
      causes: [],
    });
    const v = alertOf(inVideo);
    if (!v) throw new Error('no alert');
    expect(v.title).toBe('pool video: 🛑 Circuit breaker open: spawning stopped');
    expect(v.key).toBe('anomaly:circuit_breaker_open@video');
    const m = slackMessage(v, 0, 600);
    expect(m.text.startsWith('gpu-scaler: pool video: 🛑 Circuit breaker open')).toBe(true);
    expect(JSON.stringify(m.blocks[2])).toContain('pool video · cycle #7');
    expect(JSON.stringify(m.blocks[2])).toContain('gpu-scaler explain --pool video --cycle 7');
    // pool default: as before pools, unless the configuration has several pools
    const d = alertOf(breaker('2026-11-27T18:00:00.000Z'));
    expect(d?.title).toBe('🛑 Circuit breaker open: spawning stopped');
    expect(d?.key).toBe('anomaly:circuit_breaker_open');
    expect(alertOf(breaker('2026-11-27T18:00:00.000Z'), { namePools: true })?.title).toBe(
      'pool default: 🛑 Circuit breaker open: spawning stopped',
    );
    // the same kind in two pools is two alerts, not one and a repeat
    const g = new AlertGrouper(600_000);
    for (const a of [v, d]) {
      if (!a) throw new Error('no alert');
      expect(g.decide(a)).toEqual({ send: true, repeats: 0 });
      g.record(a, g.decide(a));
    }
  });
});
