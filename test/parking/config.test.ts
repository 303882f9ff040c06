import { ConfigError, loadConfig } from '../../src/config';

describe('parking settings', () => {
  test('defaults: PARKED_MAX=0 (never park, the behaviour before parking), 12 h max age, disk price unknown', () => {
    const c = loadConfig({});
    expect([c.PARKED_MAX, c.PARKED_MAX_AGE_SEC, c.PARKED_HOURLY_USD]).toEqual([0, 43200, undefined]);
    expect(loadConfig({ PARKED_MAX: '5', PARKED_HOURLY_USD: '0.01' }).PARKED_MAX).toBe(5);
  });

  test('bad values and Kubernetes (no stopped pods) are refused, naming what is allowed', () => {
    expect(() => loadConfig({ PARKED_MAX: '-1' })).toThrow(/PARKED_MAX="-1" is not allowed/);
    let err: unknown;
    try {
      loadConfig({ PROVIDER: 'kubernetes', PARKED_MAX: '2', K8S_IMAGE: 'ghcr.io/acme/w:1' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('PARKED_MAX=2 is not allowed with PROVIDER=kubernetes');
  });
});
