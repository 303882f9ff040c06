import { ConfigError, describeConfig, loadConfig } from '../src/config';

describe('configuration', () => {
  test('defaults are the operators policy', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      POLL_INTERVAL_SEC: 30,
      TASKS_PER_GPU: 1,
      MIN_ACTIVE_GPUS: 0,
      MAX_WORKERS: 10,
      MAX_ACTIVE_GPUS: 10,
      MACHINES_TO_KEEP_IDLE: 0,
      GPU_IDLE_TIMEOUT_SEC: 300,
      SPAWNING_TIMEOUT_SEC: 600,
      DB_LOGGING_REQUIRED: false,
      LOG_FILE: 'orchestrator.log',
    });
  });

  test('a bad value names the variable, the value and what is allowed', () => {
    const err = (() => {
      try {
        loadConfig({ MAX_ACTIVE_GPUS: 'four', PROVIDER: 'aws', DB_LOGGING_REQUIRED: 'maybe', POLL_INTERVAL_SEC: '-1' });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('MAX_ACTIVE_GPUS="four" is not allowed');
    expect(err.message).toMatch(/PROVIDER="aws" is not allowed: expected one of "simulated"/);
    expect(err.message).toMatch(/DB_LOGGING_REQUIRED="maybe" is not allowed: expected one of .*"true".*"false"/);
    expect(err.message).toMatch(/POLL_INTERVAL_SEC="-1" is not allowed: expected a number >= 0.01/);
    expect(err.problems).toHaveLength(4);
  });

  test('MIN_ACTIVE_GPUS above MAX_ACTIVE_GPUS is a configuration error; MAX_HOURLY_COST_USD is off by default', () => {
    expect(() => loadConfig({ MIN_ACTIVE_GPUS: '5', MAX_ACTIVE_GPUS: '4' })).toThrow(
      'MIN_ACTIVE_GPUS=5 is not allowed: expected a number of GPUs <= MAX_ACTIVE_GPUS (4), the hard budget',
    );
    expect(loadConfig({ MIN_ACTIVE_GPUS: '4', MAX_ACTIVE_GPUS: '4' }).MIN_ACTIVE_GPUS).toBe(4);
    expect(loadConfig({}).MAX_HOURLY_COST_USD).toBeUndefined();
    expect(loadConfig({ MAX_HOURLY_COST_USD: '2.50' }).MAX_HOURLY_COST_USD).toBe(2.5);
    expect(() => loadConfig({ MAX_HOURLY_COST_USD: '-1' })).toThrow('MAX_HOURLY_COST_USD="-1" is not allowed');
  });

  test('empty values count as unset; the effective configuration masks secrets', () => {
    const c = loadConfig({ MAX_WORKERS: '', DATABASE_URL: 'postgres://admin:hunter2@db.internal:5432/gs' });
    expect(c.MAX_WORKERS).toBe(10);
    const lines = describeConfig(c).join('\n');
    expect(lines).not.toContain('hunter2');
    expect(lines).not.toContain('admin');
    expect(lines).toContain('DATABASE_URL=postgres://***@db.internal:5432/***');
    expect(lines).toContain('MAX_WORKERS=10');
  });
});
