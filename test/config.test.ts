import type { CliIo } from '../src/cli/context';
import { main } from '../src/cli/main';
import { ConfigError, describeConfig, loadConfig, misspeltSettings } from '../src/config';
import { Capture } from './helpers/harness';

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

  test("a misspelt setting is a warning naming the right one; other software's variables are not", () => {
    expect(
      misspeltSettings({
        POLL_INTERVAL_SECS: '5',
        MAX_ACTIVE_GPU: '4',
        TASK_COUNT_KYE: 'x',
        POLL_INTERVAL_SEC: '5',
        PATH: '/usr/bin',
        HOME: '/root',
        NODE_OPTIONS: '--x',
        TEST_DATABASE_URL: 'postgres://x',
        MAX_OLD_SPACE: '1',
      }),
    ).toEqual([
      'POLL_INTERVAL_SECS is not a setting of ours: did you mean POLL_INTERVAL_SEC? (it is ignored)',
      'MAX_ACTIVE_GPU is not a setting of ours: did you mean MAX_ACTIVE_GPUS? (it is ignored)',
      'TASK_COUNT_KYE is not a setting of ours: did you mean TASK_COUNT_KEY? (it is ignored)',
    ]);
  });

  test('a task count path the http source could not read fails the configuration check', () => {
    expect(() => loadConfig({ TASK_COUNT_QUEUED_PATH: 'totals..x' })).toThrow(
      /TASK_COUNT_QUEUED_PATH="totals..x" is not allowed: invalid JSON path "totals..x"/,
    );
    expect(() => loadConfig({ TASK_COUNT_WORKERS_PATH: 'a[x]' })).toThrow(/TASK_COUNT_WORKERS_PATH="a\[x\]"/);
    expect(loadConfig({ TASK_COUNT_ACTIVE_PATH: 'data[0].n' }).TASK_COUNT_ACTIVE_PATH).toBe('data[0].n');
  });

  test('start exits 2 on a bad path before the store opens, and prints misspelling warnings', async () => {
    const stdout = new Capture();
    const stderr = new Capture();
    const io: CliIo = {
      stdout,
      stderr,
      stdin: process.stdin,
      // a store that cannot be opened: reaching it would fail differently (exit 1)
      env: {
        DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
        TASK_COUNT_QUEUED_PATH: 'totals..x',
        MAX_ACTIVE_GPU: '4',
      },
      isTTY: false,
    };
    expect(await main(['node', 'gpu-scaler', 'start', '--cycles', '1'], io)).toBe(2);
    expect(stderr.text).toContain('TASK_COUNT_QUEUED_PATH="totals..x" is not allowed');
    expect(stdout.text).not.toContain('gpu-scaler starting');
    expect(stderr.text).toContain('warning: MAX_ACTIVE_GPU is not a setting of ours: did you mean MAX_ACTIVE_GPUS?');
  });
});
