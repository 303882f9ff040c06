import type { CliIo } from '../src/cli/context';
import { main } from '../src/cli/main';
import {
  ConfigError,
  ConfigSchema,
  decisionStaleSec,
  describeConfig,
  loadConfig,
  misspeltSettings,
} from '../src/config';
import { Capture } from './helpers/harness';

describe('configuration', () => {
  test("defaults: the default policy, with the operators' settings at theirs for POLICY=operators", () => {
    expect(loadConfig({}).POLICY).toBe('default');
    const c = loadConfig({ POLICY: 'operators' });
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

  test('numbers in settings are decimal only: 0x10, 0o20, 0b10000 and Infinity are refused, naming the setting and the form', () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (e) {
        return (e as ConfigError).problems;
      }
      throw new Error(`accepted: ${JSON.stringify(env)}`);
    };
    expect(refused({ POLL_INTERVAL_SEC: '0x10' })).toEqual([
      'POLL_INTERVAL_SEC="0x10" is not allowed: expected a decimal number such as 30 or 0.5 (hexadecimal, octal and binary forms like 0x10 are not read)',
    ]);
    expect(refused({ MAX_ACTIVE_GPUS: '0o20' })[0]).toMatch(
      /^MAX_ACTIVE_GPUS="0o20" is not allowed: expected a whole number in decimal such as 30 \(hexadecimal/,
    );
    expect(refused({ TASK_COUNT_MAX: '0b10000' })[0]).toMatch(
      /^TASK_COUNT_MAX="0b10000" is not allowed: expected a whole number in decimal/,
    );
    expect(refused({ MAX_HOURLY_COST_USD: 'Infinity' })[0]).toMatch(/^MAX_HOURLY_COST_USD="Infinity" is not allowed/);
    // one rule for every block: a provider's and a policy's numbers too
    expect(refused({ POLICY: 'operators', MIN_ACTIVE_GPUS: '0x1' })[0]).toMatch(
      /^MIN_ACTIVE_GPUS="0x1" is not allowed: expected a whole number in decimal/,
    );
    expect(refused({ PROVIDER: 'local', WORKER_COMMAND: 'true', LOCAL_TERMINATE_GRACE_SEC: '0x5' }).join('\n')).toMatch(
      /LOCAL_TERMINATE_GRACE_SEC="0x5" is not allowed: expected a decimal/,
    );
    expect(refused({ MAX_WORKERS: '1.5' })[0]).toMatch(/MAX_WORKERS="1.5" is not allowed: expected a whole number/);
    // decimal forms are read as before
    const c = loadConfig({
      POLL_INTERVAL_SEC: '.5',
      MAX_WORKERS: '1e1',
      MAX_ACTIVE_GPUS: '+4',
      GPU_IDLE_TIMEOUT_SEC: '2.50',
    });
    expect([c.POLL_INTERVAL_SEC, c.MAX_WORKERS, c.MAX_ACTIVE_GPUS, c.GPU_IDLE_TIMEOUT_SEC]).toEqual([0.5, 10, 4, 2.5]);
  });

  test('MIN_ACTIVE_GPUS above MAX_ACTIVE_GPUS is a configuration error; MAX_HOURLY_COST_USD is off by default', () => {
    expect(() => loadConfig({ POLICY: 'operators', MIN_ACTIVE_GPUS: '5', MAX_ACTIVE_GPUS: '4' })).toThrow(
      'MIN_ACTIVE_GPUS=5 is not allowed: expected a number of GPUs <= MAX_ACTIVE_GPUS (4), the hard budget',
    );
    expect(loadConfig({ POLICY: 'operators', MIN_ACTIVE_GPUS: '4', MAX_ACTIVE_GPUS: '4' }).MIN_ACTIVE_GPUS).toBe(4);
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
    expect(describeConfig(loadConfig({ DATABASE_URL: 'memory://' }))).toContain('DATABASE_URL=memory://');
  });

  test('the effective configuration shows the settings that act: the chosen source, provider and policy', () => {
    const lines = describeConfig(loadConfig({}));
    const keys = lines.map((l) => l.split('=')[0]);
    expect(keys).toEqual(expect.arrayContaining(['POLICY', 'WARM_HEADROOM', 'PROVIDER', 'SIM_STARTUP_MIN_SEC']));
    for (const unused of ['TASKS_PER_GPU', 'KEDA_QUEUE_TARGET', 'RUNPOD_API_URL', 'K8S_NAMESPACE', 'TASK_COUNT_URL'])
      expect(keys).not.toContain(unused);
    expect(lines[lines.length - 1]).toBe(
      '(not shown: the settings of task sources, providers and policies other than tasks-table, simulated and default: they are not used)',
    );
    const runpod = describeConfig(
      loadConfig({
        POLICY: 'operators',
        PROVIDER: 'runpod',
        RUNPOD_API_KEY: 'rp-secret-key-123',
        RUNPOD_IMAGE_NAME: 'img:1',
        RUNPOD_GPU_TYPE_IDS: 'NVIDIA A40',
      }),
    ).join('\n');
    expect(runpod).toContain('RUNPOD_API_URL=https://api.runpod.io/v2');
    expect(runpod).toContain('TASKS_PER_GPU=1');
    expect(runpod).not.toContain('rp-secret-key-123');
    expect(runpod).not.toContain('WARM_HEADROOM');
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
        NODE: '/usr/bin/node', // set by npm start and npx
        NODE_OPTIONS: '--x',
        TEST_DATABASE_URL: 'postgres://x',
        MAX_OLD_SPACE: '1',
        MODES: 'shadow',
      }),
    ).toEqual([
      'POLL_INTERVAL_SECS is not a setting of ours: did you mean POLL_INTERVAL_SEC? (it is ignored)',
      'MAX_ACTIVE_GPU is not a setting of ours: did you mean MAX_ACTIVE_GPUS? (it is ignored)',
      'TASK_COUNT_KYE is not a setting of ours: did you mean TASK_COUNT_KEY? (it is ignored)',
      'MODES is not a setting of ours: did you mean MODE? (it is ignored)',
    ]);
  });

  const http = { TASK_SOURCE: 'http', TASK_COUNT_URL: 'https://counts.example/fn' };

  test('a task count path the http source could not read fails the configuration check', () => {
    expect(() => loadConfig({ ...http, TASK_COUNT_QUEUED_PATH: 'totals..x' })).toThrow(
      /TASK_COUNT_QUEUED_PATH="totals..x" is not allowed: invalid JSON path "totals..x"/,
    );
    expect(() => loadConfig({ ...http, TASK_COUNT_WORKERS_PATH: 'a[x]' })).toThrow(/TASK_COUNT_WORKERS_PATH="a\[x\]"/);
    expect(loadConfig({ ...http, TASK_COUNT_ACTIVE_PATH: 'data[0].n' }).TASK_COUNT_ACTIVE_PATH).toBe('data[0].n');
  });

  test('the settings of a source or provider not in use are not validated; those in use are', () => {
    const badSource = {
      TASK_COUNT_URL: 'not a url',
      TASK_COUNT_METHOD: 'PUT',
      TASK_COUNT_BODY: '{',
      TASK_COUNT_QUEUED_PATH: 'totals..x',
      TASKS_DATABASE_URL: 'mysql://db/x',
    };
    const badProviders = {
      RUNPOD_CLOUD_TYPE: 'SPOT',
      RUNPOD_GPU_COUNT: 'two',
      RUNPOD_INTERRUPTIBLE: 'true',
      LOCAL_MAX_WORKERS: '0',
      SIM_FAILURE_RATE: '2',
    };
    // tasks-table and simulated: every bad value above belongs to something not in use, except SIM_*
    const c = loadConfig({ ...badSource, ...badProviders, SIM_FAILURE_RATE: '0.5' });
    expect(c).toMatchObject({ TASK_SOURCE: 'tasks-table', PROVIDER: 'simulated', SIM_FAILURE_RATE: 0.5 });
    // a bad value of a setting not in use takes the default
    expect(c).toMatchObject({ TASK_COUNT_METHOD: 'POST', RUNPOD_GPU_COUNT: 1, LOCAL_MAX_WORKERS: 1 });
    expect(c.TASK_COUNT_URL).toBeUndefined();

    const problems = (env: Record<string, string>): string[] => {
      try {
        loadConfig(env);
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
      return [];
    };
    expect(problems({ ...badSource, ...badProviders })).toEqual([
      'SIM_FAILURE_RATE="2" is not allowed: expected a number <= 1',
    ]);
    expect(problems({ ...badSource, ...badProviders, SIM_FAILURE_RATE: '0', TASK_SOURCE: 'http' })).toEqual([
      'TASK_COUNT_URL="not a url" is not allowed: expected a URL',
      'TASK_COUNT_METHOD="PUT" is not allowed: expected one of "POST", "GET"',
      'TASK_COUNT_BODY="{" is not allowed: expected valid JSON',
    ]);
    expect(
      problems({ ...badSource, ...badProviders, TASK_SOURCE: 'sql', TASK_COUNT_SQL: 'select 1, 1', PROVIDER: 'local' }),
    ).toEqual([
      'TASKS_DATABASE_URL=*** is not allowed: expected a postgres:// URL',
      'LOCAL_MAX_WORKERS="0" is not allowed: expected a number >= 1',
    ]);
    expect(problems({ ...badProviders, PROVIDER: 'runpod' })).toEqual([
      'RUNPOD_GPU_COUNT="two" is not allowed: expected a whole number in decimal such as 30 (hexadecimal, octal and binary forms like 0x10 are not read)',
      'RUNPOD_CLOUD_TYPE="SPOT" is not allowed: expected one of "SECURE", "COMMUNITY"',
    ]);
  });

  test('durations are seconds: every duration setting ends in _SEC; the former _MS names are refused with the value to set', () => {
    const keys = Object.keys(ConfigSchema.shape);
    expect(keys.filter((k) => /_(MS|MSEC|MILLIS|SECS|SECONDS|MIN|MINS|MINUTES|HOURS?)$/.test(k))).toEqual([]);
    expect(keys.filter((k) => /_DAYS$/.test(k))).toEqual(['SYSTEM_LOGS_RETENTION_DAYS']);
    expect(loadConfig({}).ANOMALY_SLOW_SOURCE_SEC).toBe(5);
    expect(loadConfig({}).RUNPOD_BACKOFF_BASE_SEC).toBe(0.5);
    expect(() => loadConfig({ RUNPOD_BACKOFF_BASE_MS: '250', ANOMALY_SLOW_SOURCE_MS: '8000' })).toThrow(
      new ConfigError([
        'RUNPOD_BACKOFF_BASE_MS is no longer read: durations are in seconds, set RUNPOD_BACKOFF_BASE_SEC=0.25 instead',
        'ANOMALY_SLOW_SOURCE_MS is no longer read: durations are in seconds, set ANOMALY_SLOW_SOURCE_SEC=8 instead',
      ]),
    );
    // refused, not also reported as a misspelling
    expect(misspeltSettings({ RUNPOD_BACKOFF_MAX_MS: '1000' })).toEqual([]);
  });

  test('every setting has its default in the schema (unset only where unset means off or none)', () => {
    const c = loadConfig({});
    expect(c.LOG_FORMAT).toBe('pretty');
    const unset = Object.keys(ConfigSchema.shape).filter((k) => c[k as keyof typeof c] === undefined);
    expect(unset).toEqual([
      'DATABASE_URL',
      'TASK_COUNT_URL',
      'TASK_COUNT_KEY',
      'TASK_COUNT_WORKERS_PATH',
      'TASK_COUNT_SQL',
      'TASKS_DATABASE_URL',
      'FALLBACK_WORKERS',
      'WORKER_COMMAND',
      'LOCAL_GPUS',
      'RUNPOD_API_KEY',
      'RUNPOD_GPU_TYPE_IDS',
      'RUNPOD_IMAGE_NAME',
      'RUNPOD_TEMPLATE_ID',
      'RUNPOD_CLOUD_TYPE',
      'RUNPOD_CONTAINER_DISK_GB',
      'RUNPOD_VOLUME_GB',
      'RUNPOD_VOLUME_MOUNT_PATH',
      'RUNPOD_NETWORK_VOLUME_ID',
      'RUNPOD_WORKER_ENV',
      'RUNPOD_PORTS',
      'RUNPOD_DATA_CENTER_IDS',
      'RUNPOD_ARGS',
      'RUNPOD_REGISTRY',
      'RUNPOD_ALLOWED_CUDA_VERSIONS',
      'RUNPOD_MIN_CUDA_VERSION',
      'RUNPOD_INTERRUPTIBLE',
      'K8S_CONTEXT',
      'K8S_POD_TEMPLATE',
      'K8S_IMAGE',
      'K8S_GPU_COUNT',
      'K8S_NODE_SELECTOR',
      'K8S_TOLERATIONS',
      'K8S_PRIORITY_CLASS',
      'K8S_ENV',
      'MAX_HOURLY_COST_USD',
      'GLOBAL_MAX_ACTIVE_GPUS',
      'GLOBAL_MAX_HOURLY_COST_USD',
      'WORKER_MAX_LIFETIME_SEC',
      'PARKED_HOURLY_USD',
      'DECISION_STALE_SEC',
      'HTTP_TOKEN',
      'ALERT_WEBHOOK_URL',
      'SIM_GPU_HOURLY_USD',
    ]);
    // DECISION_STALE_SEC's default follows POLL_INTERVAL_SEC
    expect(decisionStaleSec(c)).toBe(120);
    expect(decisionStaleSec(loadConfig({ POLL_INTERVAL_SEC: '60' }))).toBe(240);
    expect(decisionStaleSec(loadConfig({ DECISION_STALE_SEC: '30' }))).toBe(30);
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
        ...http,
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
