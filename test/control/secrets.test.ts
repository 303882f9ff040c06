import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { appRegistry } from '../../events/index';
import { main } from '../../src/cli/main';
import { type ConfigError, loadConfig } from '../../src/config';
import { type PodInfo, type Provider, ProviderError } from '../../src/providers/provider';
import { runService } from '../../src/service';
import { openStore } from '../../src/store/index';
import { Capture } from '../helpers/harness';

const KEY = 'tck-SECRET-4f9a2b';
const RUNPOD_KEY = 'rpa-SECRET-77c1d0';
const TASKS_DB_PASSWORD = 'tdb-SECRET-pw';
const WORKER_ENV_TOKEN = 'hf-SECRET-9e8d';
/** Not configured anywhere: only its shape (`Bearer <token>`) says it is a secret. */
const STRAY_BEARER = 'stray-bearer-0b1c2d';
const SECRETS = [KEY, RUNPOD_KEY, TASKS_DB_PASSWORD, WORKER_ENV_TOKEN, STRAY_BEARER];

/**
 * An endpoint that echoes the bearer key it is sent: in workers[], in the body of an answer that does
 * not validate, and in the HTTP reason phrase of an error, in turn.
 */
function echoingEndpoint(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    const key = auth.replace(/^Bearer /, '');
    const mode = n++ % 3;
    req.resume();
    if (mode === 0) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          totals: { queued_only: 2, active_only: 0 },
          workers: [{ workerId: key, activeTasks: 0, lastTaskAt: null }],
          echo: `${auth} / Bearer ${STRAY_BEARER}`,
        }),
      );
    } else if (mode === 1) {
      res.writeHead(503, `Unavailable for ${auth} (${key})`, { 'content-type': 'text/plain' });
      res.end(`try again, ${key}; Authorization: Bearer ${STRAY_BEARER}`);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ totals: { queued_only: key, active_only: `${auth}` }, note: `Bearer ${STRAY_BEARER}` }));
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}/task-counts`,
        requests: () => n,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A provider whose every spawn fails with an error quoting every secret it could know. */
class EchoingProvider implements Provider {
  readonly name = 'echoing';
  readonly gpusPerWorker = 1;
  spawns = 0;
  async spawn(): Promise<PodInfo> {
    this.spawns += 1;
    throw new ProviderError(
      'error',
      `refused (Authorization: Bearer ${RUNPOD_KEY}); task key ${KEY}; ` +
        `tasks db postgres://reader:${TASKS_DB_PASSWORD}@db/app; env HF_TOKEN=${WORKER_ENV_TOKEN}; ` +
        `upstream said Bearer ${STRAY_BEARER}`,
    );
  }
  async terminate(): Promise<void> {}
  async list(): Promise<PodInfo[]> {
    return [];
  }
}

const TABLES = ['events', 'system_logs', 'workers', 'scaling_decisions', 'anomalies', 'health_summaries'];

describe('no secret enters the append-only record, the logs or the output', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-secrets-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an endpoint and a provider echoing the keys: zero hits in every table, file and stream', async () => {
    const endpoint = await echoingEndpoint();
    const provider = new EchoingProvider();
    const dbUrl = `pglite://${path.join(dir, 'db')}`;
    const logFile = path.join(dir, 'orchestrator.log');
    const errorsFile = path.join(dir, 'db_logging_errors.log');
    const stdout = new Capture();
    const stderr = new Capture();
    try {
      const config = loadConfig({
        DATABASE_URL: dbUrl,
        LOG_FILE: logFile,
        DB_LOGGING_ERRORS_FILE: errorsFile,
        POLL_INTERVAL_SEC: '0.1',
        HEALTH_CHECK_EVERY_CYCLES: '2',
        HEALTH_SUMMARY_EVERY_CYCLES: '3',
        TASK_SOURCE: 'http',
        TASK_COUNT_URL: endpoint.url,
        TASK_COUNT_KEY: KEY,
        TASK_COUNT_WORKERS_PATH: 'workers',
        RUNPOD_API_KEY: RUNPOD_KEY,
        TASKS_DATABASE_URL: `postgres://reader:${TASKS_DB_PASSWORD}@127.0.0.1:1/app`,
        RUNPOD_WORKER_ENV: JSON.stringify({ HF_TOKEN: WORKER_ENV_TOKEN }),
        LOG_LEVEL: 'debug',
      });
      expect(await runService({ config, maxCycles: 9, stdout, stderr, provider })).toBe(0);
    } finally {
      await endpoint.close();
    }
    expect(endpoint.requests()).toBeGreaterThanOrEqual(9);

    const store = await openStore({ target: dbUrl, registry: appRegistry, listen: false });
    const texts: Record<string, string> = {};
    let types: string[];
    try {
      for (const table of TABLES) {
        const rows = await store.db.query<{ t: string }>(`select (x)::text as t from ${table} x`);
        texts[`table ${table}`] = rows.map((r) => r.t).join('\n');
      }
      types = (await store.db.query<{ t: string }>('select distinct event_type as t from events')).map((r) => r.t);
    } finally {
      await store.close();
    }
    texts.stdout = stdout.text;
    texts.stderr = stderr.text;
    texts['log file'] = fs.readFileSync(logFile, 'utf8');
    if (fs.existsSync(errorsFile)) texts['errors file'] = fs.readFileSync(errorsFile, 'utf8');

    // the paths that carried the key before were all taken
    expect(types).toEqual(
      expect.arrayContaining(['TaskCountObserved', 'TaskCountRejected', 'ScalingDecided', 'WorkerSpawnFailed']),
    );
    expect(provider.spawns).toBeGreaterThan(0);
    expect(texts['table events']).toContain('***');

    const hits: Record<string, number> = {};
    for (const [where, text] of Object.entries(texts)) {
      for (const secret of SECRETS) {
        const n = text.split(secret).length - 1;
        if (n > 0) hits[`${secret} in ${where}`] = n;
      }
    }
    expect(hits).toEqual({});
  }, 60_000);
});

describe('a secret that cannot be redacted safely', () => {
  // each of these, as HTTP_TOKEN, made every cycle fail ("event TaskCountObserved is not valid")
  const UNSAFE = ['worker', 'a', 'e', '0', '1', 'at', 'id', '2026'];

  test.each(UNSAFE)('HTTP_TOKEN=%s is refused at start (exit 2), naming the setting and why', async (token) => {
    const stdout = new Capture();
    const stderr = new Capture();
    const env = {
      DATABASE_URL: 'memory://',
      HTTP_PORT: '0',
      LOG_FILE: 'none',
      POLL_INTERVAL_SEC: '0.05',
      HTTP_TOKEN: token,
    };
    const code = await main(['node', 'gpu-scaler', 'start', '--cycles', '2'], {
      stdout,
      stderr,
      stdin: process.stdin,
      env,
      isTTY: false,
    });
    expect(code).toBe(2);
    expect(stderr.text).toMatch(/HTTP_TOKEN is too short or too common to redact safely: it is /);
    expect(stdout.text).not.toContain('gpu-scaler starting');
    expect(stdout.text + stderr.text).not.toContain('Cycle #1 failed');
  });

  test('the same rule for every secret setting; a random value, a URL and a worker environment pass', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (e) {
        return (e as ConfigError).problems;
      }
    };
    expect(problems({ PROVIDER: 'runpod', RUNPOD_API_KEY: 'password' })).toContainEqual(
      expect.stringMatching(/^RUNPOD_API_KEY is too short or too common to redact safely: it is a word of 8 letters/),
    );
    expect(problems({ TASK_SOURCE: 'http', TASK_COUNT_URL: 'http://x/', TASK_COUNT_KEY: '20261205' })).toEqual([
      expect.stringMatching(/^TASK_COUNT_KEY is too short .*: it is a number of 8 digits/),
    ]);
    expect(problems({ HTTP_TOKEN: 'MAX_ACTIVE' })).toEqual([
      expect.stringMatching(/^HTTP_TOKEN is too short .*: it is \(part of\) a word gpu-scaler .* writes/),
    ]);
    expect(problems({ HTTP_TOKEN: 'xxxxxxxxxxxx' })).toEqual([expect.stringMatching(/one character repeated/)]);
    // the value itself is never quoted
    expect(problems({ HTTP_TOKEN: 'hunter2' }).join(' ')).not.toContain('hunter2');
    expect(
      problems({
        HTTP_TOKEN: 'k9-Qz71-pL0x',
        DATABASE_URL: 'memory://',
        RUNPOD_WORKER_ENV: '{"N":"1","DEBUG":"true"}',
        TASK_SOURCE: 'http',
        TASK_COUNT_URL: 'https://tasks.example/count',
        TASK_COUNT_KEY: 'rpa_0123456789abcdef',
      }),
    ).toEqual([]);
  });

  test('the record keeps keys, times, ids and enums whatever the secrets: a redacted event is valid by construction', async () => {
    // secrets a store may be given directly (the configuration refuses these): each occurs in keys,
    // timestamps or enum values of the events below
    const store = await openStore({ target: 'memory://', registry: appRegistry, listen: false });
    try {
      store.setSecrets(['s', 'at', 'cycle', '2026', 'idle', 'workers', 'tk-0a1b2c3d4e']);
      const at = '2026-12-05T10:20:30.000Z';
      await store.append('controller', [
        {
          type: 'TaskCountObserved',
          data: {
            cycle: 3,
            at,
            source: 'http (answered for tk-0a1b2c3d4e at 2026)',
            queued: 1,
            active: 0,
            total: 1,
            responseMs: 5,
            workers: [{ workerId: 'w-tk-0a1b2c3d4e', activeTasks: 0, lastTaskAt: at }],
          },
          metadata: { cycle: 3, causationId: '12026000-0000-4000-8000-000000002026', note: `tk-0a1b2c3d4e at ${at}` },
        },
      ]);
      await store.append('worker-1', [
        {
          type: 'WorkerTerminated',
          data: {
            workerId: 'worker-1',
            at,
            podId: null,
            reason: 'idle',
            detail: 'idle since 2026 (key tk-0a1b2c3d4e)',
            failed: false,
          },
        },
      ]);
      const [observed] = await store.readStream('controller');
      expect(observed.data).toEqual({
        cycle: 3,
        at,
        pool: 'default',
        source: 'http (an***wered for *** *** ***)',
        queued: 1,
        active: 0,
        total: 1,
        responseMs: 5,
        workers: [{ workerId: 'w-***', activeTasks: 0, lastTaskAt: at }],
      });
      expect(observed.metadata).toEqual({
        cycle: 3,
        causationId: '12026000-0000-4000-8000-000000002026',
        note: '*** *** ***-12-05T10:20:30.000Z',
      });
      const [terminated] = await store.readStream('worker-1');
      expect(terminated.data).toMatchObject({ at, reason: 'idle', detail: '*** ***ince *** (key ***)' });
    } finally {
      await store.close();
    }
  });
});
