import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { appRegistry } from '../../events/index';
import { openStore } from '../../src/store/index';
import { packageRoot } from '../../src/util/package-root';
import { FakeKubeApi } from '../fakes/kube-api';
import { buildDist } from '../helpers/build-dist';

// The service with PROVIDER=kubernetes, killed with SIGKILL after the API server made its pod and
// before the service heard back (so before WorkerSpawned was recorded). The next run finds the pod
// by its name (409 AlreadyExists) instead of making a second one.

const root = packageRoot();
let api: FakeKubeApi;
let counts: Server;
let countsUrl: string;
let dir: string;

beforeAll(async () => {
  // the service runs from dist/, as `npm start` does: bring it up to date (incremental)
  buildDist();
  counts = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ totals: { queued_only: 1, active_only: 0 } }));
  });
  await new Promise<void>((resolve) => counts.listen(0, '127.0.0.1', resolve));
  countsUrl = `http://127.0.0.1:${(counts.address() as AddressInfo).port}/task-counts`;
  api = await new FakeKubeApi({ namespace: 'gpu' }).start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-k8s-kill-'));
}, 120_000);

afterAll(async () => {
  await api?.stop();
  await new Promise<void>((resolve) => counts?.close(() => resolve()));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [path.join(root, 'bin/gpu-scaler.js'), 'start', ...args], {
    cwd: dir,
    env: {
      ...process.env,
      DATABASE_URL: `pglite://${path.join(dir, 'store')}`,
      KUBECONFIG: api.kubeconfig,
      PROVIDER: 'kubernetes',
      K8S_NAMESPACE: 'gpu',
      K8S_IMAGE: 'ghcr.io/acme/worker:1',
      TASK_SOURCE: 'http',
      TASK_COUNT_URL: countsUrl,
      POLL_INTERVAL_SEC: '0.2',
      LOG_FILE: path.join(dir, 'orchestrator.log'),
      DB_LOGGING_ERRORS_FILE: path.join(dir, 'db_logging_errors.log'),
      LOG_LEVEL: 'warning',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

test('SIGKILL between the create and its record: the restart adopts the pod, no second pod', async () => {
  const first = start([]);
  let created = false;
  api.afterCreate = async () => {
    created = true;
    first.kill('SIGKILL');
    await exited(first);
  };
  let firstErr = '';
  first.stderr?.on('data', (d) => {
    firstErr += d.toString();
  });
  await exited(first);
  expect({ created, stderr: created ? '' : firstErr.slice(-2000) }).toEqual({ created: true, stderr: '' });
  api.afterCreate = null;
  expect(api.names()).toHaveLength(1);
  const [pod] = api.names();

  const second = start(['--cycles', '3']);
  let stderr = '';
  second.stderr?.on('data', (d) => {
    stderr += d.toString();
  });
  expect({ code: await exited(second), stderr: stderr.slice(-2000) }).toEqual({ code: 0, stderr: expect.any(String) });

  expect(api.names()).toEqual([pod]);
  expect(api.calls('create').map((r) => r.status)).toEqual([201, 409]);
  const store = await openStore({
    target: `pglite://${path.join(dir, 'store')}`,
    registry: appRegistry,
    listen: false,
  });
  try {
    const spawned = await store.db.query<{ worker: string; pod: string }>(
      `select data->>'workerId' as worker, data->>'podId' as pod from events where event_type = 'WorkerSpawned'`,
    );
    const requested = await store.db.query<{ n: number }>(
      `select count(*)::int as n from events where event_type = 'WorkerSpawnRequested'`,
    );
    expect(spawned).toEqual([{ worker: expect.any(String), pod }]);
    expect(requested[0].n).toBe(1);
  } finally {
    await store.close();
  }
}, 180_000);
