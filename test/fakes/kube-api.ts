import fs from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';

/**
 * A local stand-in for the Kubernetes API server: what the provider uses of core/v1 pods (create
 * with 409 AlreadyExists, get, list with an equality label selector, delete), over plain HTTP on
 * 127.0.0.1 with a bearer token, and a kubeconfig pointing at it, so the real
 * `@kubernetes/client-node` talks to it. Pods live in memory; the test drives their status.
 */

export type Verb = 'create' | 'get' | 'list' | 'delete';

export interface KubeRequest {
  verb: Verb | null;
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  status: number;
}

/** What a created pod does on its own: start (Running and Ready), stay Pending, or wait unschedulable. */
export type OnCreate = 'run' | 'pending' | 'unschedulable';

export const UNSCHEDULABLE_MESSAGE =
  '0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod.';

interface Scripted {
  verb: Verb;
  status: number;
  reason: string;
  message: string;
  headers?: Record<string, string>;
}

export class FakeKubeApi {
  readonly pods = new Map<string, V1Pod>();
  readonly requests: KubeRequest[] = [];
  /** Events recorded (POST .../events). */
  readonly events: CoreV1Event[] = [];
  /** RBAC refuses creating events. */
  forbidEvents = false;
  onCreate: OnCreate = 'run';
  /** Verbs RBAC refuses (403 Forbidden). */
  readonly forbidden = new Set<Verb>();
  /** Called after a create is stored and before it is answered (a test may kill its client here). */
  afterCreate: ((pod: V1Pod) => Promise<void> | void) | null = null;
  private scripted: Scripted[] = [];
  private server: Server | null = null;
  private seq = 0;
  url = '';
  kubeconfig = '';

  /**
   * `skipTlsVerify: false` leaves `insecure-skip-tls-verify` out of the kubeconfig, as a plain
   * `http://` server (kubectl proxy, a local cluster) is often configured.
   */
  constructor(readonly opts: { token?: string; namespace?: string; skipTlsVerify?: boolean } = {}) {}

  get token(): string {
    return this.opts.token ?? 'k8s-test-token';
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${port}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-kube-'));
    this.kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(
      this.kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: fake',
        '  cluster:',
        `    server: ${this.url}`,
        ...(this.opts.skipTlsVerify === false ? [] : ['    insecure-skip-tls-verify: true']),
        'users:',
        '- name: tester',
        '  user:',
        `    token: ${this.token}`,
        'contexts:',
        '- name: fake',
        '  context:',
        '    cluster: fake',
        '    user: tester',
        `    namespace: ${this.opts.namespace ?? 'gpu'}`,
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    if (this.kubeconfig) fs.rmSync(path.dirname(this.kubeconfig), { recursive: true, force: true });
  }

  /** The next `times` calls of `verb` answer `status` (with Retry-After for 429). */
  fail(verb: Verb, status: number, times = 1, o: { message?: string; retryAfter?: string } = {}): void {
    for (let i = 0; i < times; i++) {
      this.scripted.push({
        verb,
        status,
        reason: status === 429 ? 'TooManyRequests' : status >= 500 ? 'InternalError' : 'BadRequest',
        message: o.message ?? `scripted ${status}`,
        headers: o.retryAfter ? { 'retry-after': o.retryAfter } : undefined,
      });
    }
  }

  calls(verb: Verb): KubeRequest[] {
    return this.requests.filter((r) => r.verb === verb);
  }

  /** Live pods (not being deleted), by name. */
  names(): string[] {
    return [...this.pods.keys()].sort();
  }

  /** Puts a pod there as someone else would (e.g. an orphan of ours from another run). */
  put(pod: V1Pod): void {
    const name = pod.metadata?.name ?? `pod-${++this.seq}`;
    this.pods.set(name, {
      ...pod,
      metadata: { ...pod.metadata, name, uid: `uid-${++this.seq}`, creationTimestamp: new Date() },
      status: pod.status ?? { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
  }

  setStatus(name: string, status: V1Pod['status']): void {
    const pod = this.pods.get(name);
    if (!pod) throw new Error(`no pod ${name}`);
    pod.status = status;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', this.url);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text ? JSON.parse(text) : undefined;
    const ev = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(u.pathname);
    if (ev && req.method === 'POST') {
      const status = req.headers.authorization !== `Bearer ${this.token}` ? 401 : this.forbidEvents ? 403 : 201;
      this.requests.push({ verb: null, method: 'POST', path: u.pathname, query: u.searchParams, body, status });
      if (status === 201) this.events.push(body as CoreV1Event);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          status === 201
            ? body
            : {
                kind: 'Status',
                apiVersion: 'v1',
                status: 'Failure',
                reason: 'Forbidden',
                code: status,
                message: 'events is forbidden',
              },
        ),
      );
      return;
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/.exec(u.pathname);
    const verb: Verb | null = !m
      ? null
      : req.method === 'POST' && !m[2]
        ? 'create'
        : req.method === 'GET' && !m[2]
          ? 'list'
          : req.method === 'GET'
            ? 'get'
            : req.method === 'DELETE'
              ? 'delete'
              : null;
    const record: KubeRequest = {
      verb,
      method: req.method ?? '',
      path: u.pathname,
      query: u.searchParams,
      body,
      status: 0,
    };
    this.requests.push(record);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(payload));
    };
    const fail = (status: number, reason: string, message: string, headers?: Record<string, string>) =>
      send(
        status,
        { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code: status },
        headers,
      );

    if (req.headers.authorization !== `Bearer ${this.token}`) return fail(401, 'Unauthorized', 'Unauthorized');
    if (!m || !verb) return fail(404, 'NotFound', `the server could not find the requested resource ${u.pathname}`);
    const [, namespace, name] = m;
    if (this.forbidden.has(verb)) {
      const v = verb === 'get' ? 'get' : verb;
      return fail(
        403,
        'Forbidden',
        `pods${name ? ` "${name}"` : ''} is forbidden: User "system:serviceaccount:${namespace}:gpu-scaler" cannot ${v} resource "pods" in API group "" in the namespace "${namespace}"`,
      );
    }
    const i = this.scripted.findIndex((s) => s.verb === verb);
    if (i >= 0) {
      const [s] = this.scripted.splice(i, 1);
      return fail(s.status, s.reason, s.message, s.headers);
    }
    switch (verb) {
      case 'create': {
        const pod = body as V1Pod;
        const podName = pod.metadata?.name ?? '';
        if (this.pods.has(podName)) return fail(409, 'AlreadyExists', `pods "${podName}" already exists`);
        const stored: V1Pod = {
          ...pod,
          metadata: { ...pod.metadata, namespace, uid: `uid-${++this.seq}`, creationTimestamp: new Date() },
          status: this.initialStatus(),
        };
        this.pods.set(podName, stored);
        await this.afterCreate?.(stored);
        return send(201, stored);
      }
      case 'get': {
        const pod = this.pods.get(name);
        return pod ? send(200, pod) : fail(404, 'NotFound', `pods "${name}" not found`);
      }
      case 'list': {
        const selector = u.searchParams.get('labelSelector') ?? '';
        const want = selector
          .split(',')
          .filter(Boolean)
          .map((kv) => kv.split('='));
        const items = [...this.pods.values()].filter(
          (p) => p.metadata?.namespace === namespace && want.every(([k, v]) => p.metadata?.labels?.[k] === v),
        );
        return send(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.seq) }, items });
      }
      case 'delete': {
        const pod = this.pods.get(name);
        if (!pod) return fail(404, 'NotFound', `pods "${name}" not found`);
        this.pods.delete(name);
        return send(200, pod);
      }
    }
  }

  private initialStatus(): V1Pod['status'] {
    switch (this.onCreate) {
      case 'run':
        return { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
      case 'pending':
        return { phase: 'Pending', conditions: [] };
      case 'unschedulable':
        return {
          phase: 'Pending',
          conditions: [
            { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: UNSCHEDULABLE_MESSAGE },
          ],
        };
    }
  }
}
