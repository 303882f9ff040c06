import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../clock';
import { CapacityBackoff, type CapacityBackoffPolicy, type CapacityBackoffState } from '../capacity-backoff';
import { DEFAULT_RETRY_POLICY, parseRetryAfter, type RetryPolicy, withRetries } from '../http-retry';
import {
  type PodInfo,
  type Provider,
  ProviderError,
  type ProviderErrorKind,
  podName,
  type SpawnRequest,
  type WhyNotStarted,
} from '../provider';
import {
  LABEL_IDEMPOTENCY_KEY,
  MANAGED_SELECTOR,
  podInfoOf,
  unschedulableOf,
  type WorkerPodShape,
  workerPod,
} from './pod';

/** The calls the provider makes on core/v1 pods: the official client's, or a test's. */
export interface PodApi {
  create(namespace: string, pod: V1Pod): Promise<V1Pod>;
  read(namespace: string, name: string): Promise<V1Pod>;
  list(namespace: string, labelSelector: string): Promise<V1Pod[]>;
  delete(namespace: string, name: string, gracePeriodSeconds: number): Promise<void>;
  /** Records a Kubernetes Event (what `kubectl describe pod` shows). */
  event(namespace: string, event: CoreV1Event): Promise<void>;
}

type Client = typeof import('@kubernetes/client-node');

/**
 * The official client is an ES module; our build is CommonJS, whose `import()` TypeScript would turn
 * into `require`. A real dynamic import of the resolved file loads it (under jest's VM modules too),
 * from wherever the process was started. The function's source is unique to each load of this
 * module: V8 reuses a function compiled from the same source together with the import hooks of the
 * context that compiled it first (nodejs/node#36351, jestjs/jest#10944), so under jest, whose every
 * test file has a context of its own, an import could otherwise go through an earlier file's
 * torn-down context.
 */
const dynamicImport = new Function('url', `return import(url); // ${randomUUID()}`) as (url: string) => Promise<Client>;
export const importClient = (): Promise<Client> =>
  dynamicImport(pathToFileURL(require.resolve('@kubernetes/client-node')).href);

/**
 * core/v1 pods through `@kubernetes/client-node`: the kubeconfig from KUBECONFIG, else
 * ~/.kube/config, else the in-cluster service account (the client's loadFromDefault), loaded on
 * first use.
 *
 * A cluster whose server is plain `http://` (kubectl proxy, a local cluster) works: the client
 * refuses http unless the cluster sets `insecure-skip-tls-verify` ("HTTP protocol is not allowed
 * when skipTLSVerify is not set"), a flag with nothing to skip over http, so it is set for such
 * clusters only, with one warning that the credentials travel unencrypted.
 */
export function clientPodApi(context?: string, log?: (level: 'info' | 'warning', message: string) => void): PodApi {
  let api: Promise<InstanceType<Client['CoreV1Api']>> | null = null;
  const core = () => {
    api ??= importClient().then((k8s) => {
      const kc = new k8s.KubeConfig();
      kc.loadFromDefault();
      if (context) kc.setCurrentContext(context);
      const plain = kc.clusters.filter((c) => /^http:\/\//i.test(c.server) && !c.skipTLSVerify);
      if (plain.length) {
        kc.loadFromOptions({
          clusters: kc.clusters.map((c) => (plain.includes(c) ? { ...c, skipTLSVerify: true } : c)),
          users: kc.users,
          contexts: kc.contexts,
          currentContext: kc.getCurrentContext(),
        });
        const current = kc.getCurrentCluster();
        if (current && /^http:\/\//i.test(current.server)) {
          log?.(
            'warning',
            `kubernetes: the API server ${current.server} is plain http: requests and credentials are not encrypted (use https outside a trusted network)`,
          );
        }
      }
      return kc.makeApiClient(k8s.CoreV1Api);
    });
    return api;
  };
  return {
    create: async (namespace, body) => (await core()).createNamespacedPod({ namespace, body }),
    read: async (namespace, name) => (await core()).readNamespacedPod({ namespace, name }),
    list: async (namespace, labelSelector) =>
      (await core()).listNamespacedPod({ namespace, labelSelector }).then((l) => l.items),
    delete: async (namespace, name, gracePeriodSeconds) => {
      await (await core()).deleteNamespacedPod({ namespace, name, gracePeriodSeconds });
    },
    event: async (namespace, body) => {
      await (await core()).createNamespacedEvent({ namespace, body });
    },
  };
}

/** An API failure as we read it: HTTP status (0: no answer), the Status reason and message. */
export interface KubeFailure {
  code: number;
  reason: string;
  message: string;
  retryAfter?: string;
}

/** Reads the client's ApiException (code, body: a Status object or its JSON, headers) or a network error. */
export function kubeFailure(err: unknown): KubeFailure {
  const e = err as { code?: unknown; body?: unknown; headers?: Record<string, string>; message?: string };
  const code = typeof e?.code === 'number' ? e.code : 0;
  let body: unknown = e?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      /* not JSON: keep the text */
    }
  }
  const status = (body && typeof body === 'object' ? body : {}) as { reason?: unknown; message?: unknown };
  const headers = e?.headers ?? {};
  return {
    code,
    reason: typeof status.reason === 'string' ? status.reason : '',
    message:
      typeof status.message === 'string'
        ? status.message
        : typeof body === 'string' && body
          ? body.slice(0, 300)
          : String(e?.message ?? err),
    retryAfter: headers['retry-after'] ?? headers['Retry-After'],
  };
}

export interface KubernetesOptions {
  api: PodApi;
  namespace: string;
  shape: WorkerPodShape;
  terminationGraceSec: number;
  clock: Clock;
  random?: () => number;
  retry?: RetryPolicy;
  log?: (level: 'info' | 'warning', message: string) => void;
  /** Backoff of the pod shape after the cluster had no room for it (default 30 s doubling to 10 min). */
  capacityBackoff?: CapacityBackoffPolicy;
}

type Verb = 'create' | 'get' | 'list' | 'delete';

/**
 * PROVIDER=kubernetes: each worker is a Pod in one namespace, made from the operator's template,
 * named from its idempotency key (a create retried after a crash meets 409 AlreadyExists and finds
 * its pod). Pending is spawning, Running and Ready is up, Succeeded/Failed end the worker. A pod
 * the scheduler cannot place (Unschedulable) waits for capacity: not a worker failure;
 * SPAWNING_TIMEOUT_SEC still bounds it. 403 (RBAC) stops spawning naming the refused verb; 429
 * and 5xx back off and retry.
 */
export class KubernetesProvider implements Provider {
  readonly name = 'kubernetes';
  readonly gpusPerWorker: number;

  private readonly backoff: CapacityBackoff;

  constructor(private readonly o: KubernetesOptions) {
    this.gpusPerWorker = o.shape.gpuCount;
    this.backoff = new CapacityBackoff(o.capacityBackoff ?? { baseMs: 30_000, maxMs: 600_000 });
  }

  /** The one placement candidate: the worker pod's shape. */
  private get shapeKey(): string {
    return `the worker pod (${this.gpusPerWorker}x nvidia.com/gpu) in namespace ${this.o.namespace}`;
  }

  /** The pod shape backing off after the cluster had no room for it. */
  capacityBackoff(): CapacityBackoffState | null {
    const all = this.backoff.all([this.shapeKey], this.o.clock.now());
    const b = all?.each[0]?.[1];
    if (!all || !b) return null;
    return {
      until: all.until.toISOString(),
      why: `${this.shapeKey}: no room ${b.failures === 1 ? 'once' : `${b.failures} times`} in a row`,
    };
  }

  async spawn(req: SpawnRequest): Promise<PodInfo> {
    const { namespace } = this.o;
    const body = workerPod(this.o.shape, namespace, req);
    const waiting = this.backoff.backingOff(this.shapeKey, this.o.clock.now());
    if (waiting) {
      throw new ProviderError(
        'capacity',
        `kubernetes: not creating a worker pod before ${waiting.until.toISOString()}: the cluster had no room for ${this.shapeKey} ${waiting.failures} time(s) in a row`,
      );
    }
    try {
      const created = await this.call('create', () => this.o.api.create(namespace, body));
      if (req.why) await this.note(created, 'GpuScalerSpawned', req.why);
      return podInfoOf(created, this.gpusPerWorker);
    } catch (err) {
      const f = kubeFailure(err);
      if (f.code !== 409 || f.reason !== 'AlreadyExists') {
        const e = this.refusal('create', err);
        if (e.kind === 'capacity') this.backoff.failed(this.shapeKey, this.o.clock.now());
        throw e;
      }
    }
    // Made before a crash: find it. A pod of that name not made for this key is not ours to adopt.
    const name = podName(req.idempotencyKey);
    const found = await this.call('get', () => this.o.api.read(namespace, name)).catch((err) => {
      throw this.refusal('get', err);
    });
    if (found.metadata?.labels?.[LABEL_IDEMPOTENCY_KEY] !== req.idempotencyKey) {
      throw new ProviderError(
        'invalid_request',
        `pod ${namespace}/${name} exists but is not labelled ${LABEL_IDEMPOTENCY_KEY}=${req.idempotencyKey}: not adopting it`,
      );
    }
    return { ...podInfoOf(found, this.gpusPerWorker), existing: true };
  }

  async terminate(podId: string, why?: string): Promise<void> {
    const { namespace } = this.o;
    if (why) await this.note({ metadata: { name: podId, namespace } }, 'GpuScalerTerminating', why);
    try {
      await this.call('delete', () => this.o.api.delete(namespace, podId, this.o.terminationGraceSec));
    } catch (err) {
      if (kubeFailure(err).code === 404) return; // gone already
      throw this.refusal('delete', err);
    }
  }

  async list(): Promise<PodInfo[]> {
    const pods = await this.call('list', () => this.o.api.list(this.o.namespace, MANAGED_SELECTOR)).catch((err) => {
      throw this.refusal('list', err);
    });
    const infos = pods.map((p) => podInfoOf(p, this.gpusPerWorker));
    // a worker pod that runs: the cluster has room again
    if (infos.some((p) => p.status === 'running')) this.backoff.succeeded(this.shapeKey);
    return infos;
  }

  async whyNotStarted(podId: string): Promise<WhyNotStarted | null> {
    let pod: V1Pod;
    try {
      pod = await this.o.api.read(this.o.namespace, podId);
    } catch {
      return null;
    }
    const u = unschedulableOf(pod);
    if (u) {
      // given up on at SPAWNING_TIMEOUT_SEC for want of room: the next pod of this shape waits too
      const b = this.backoff.failed(this.shapeKey, this.o.clock.now());
      return {
        capacity: true,
        message: `the cluster had no GPU for it: ${u.message || u.reason}; no new worker pod before ${b.until.toISOString()}`,
      };
    }
    const waiting = pod.status?.containerStatuses?.find((s) => s.state?.waiting)?.state?.waiting;
    if (waiting?.reason)
      return { capacity: false, message: `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}` };
    return null;
  }

  /**
   * A Kubernetes Event on the worker pod saying why gpu-scaler made or removes it, so
   * `kubectl describe pod` answers "why does this exist?". Best effort: one try, and a refusal
   * (a Role without `create` on events) is logged once and never stops a spawn or a termination.
   */
  private async note(pod: V1Pod, reason: string, message: string): Promise<void> {
    const { namespace, clock } = this.o;
    const name = pod.metadata?.name ?? '';
    const now = clock.now();
    try {
      await this.o.api.event(namespace, {
        metadata: { generateName: `${name}.`, namespace },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name, namespace, uid: pod.metadata?.uid },
        reason,
        message: message.slice(0, 1024),
        type: 'Normal',
        source: { component: 'gpu-scaler' },
        reportingComponent: 'gpu-scaler',
        reportingInstance: 'gpu-scaler',
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (err) {
      if (this.eventsRefused) return;
      this.eventsRefused = true;
      const f = kubeFailure(err);
      this.o.log?.(
        'warning',
        `kubernetes: could not record an Event on pod ${name} (${f.code || 'no answer'} ${f.message}); pods are unaffected. Grant "create" on events to see why a pod exists in kubectl describe`,
      );
    }
  }

  private eventsRefused = false;

  /** One API call with backoff on 429 (Retry-After honoured), 5xx and no answer. */
  private call<T>(verb: Verb, op: () => Promise<T>): Promise<T> {
    const { clock, log } = this.o;
    return withRetries(op, {
      policy: this.o.retry ?? DEFAULT_RETRY_POLICY,
      clock,
      random: this.o.random ?? Math.random,
      classify: (err) => {
        const f = kubeFailure(err);
        if (f.code === 429) return { retry: true, delayMs: parseRetryAfter(f.retryAfter, clock.now()) };
        if (f.code === 0 || f.code >= 500) return { retry: true };
        return { retry: false };
      },
      onRetry: ({ attempt, delayMs, error }) => {
        const f = kubeFailure(error);
        log?.(
          'warning',
          `kubernetes ${verb} pods: ${f.code || 'no answer'} ${f.message}; retry ${attempt} in ${delayMs} ms`,
        );
      },
    });
  }

  /** A failed call as a ProviderError of the right kind, naming the verb and resource refused. */
  private refusal(verb: Verb, err: unknown): ProviderError {
    const f = kubeFailure(err);
    const ns = this.o.namespace;
    const what = `${verb} pods in namespace ${ns}`;
    let kind: ProviderErrorKind = 'error';
    let message = `kubernetes could not ${what}: ${f.code || 'no answer'} ${f.message}`;
    if (f.code === 0 && /HTTP protocol is not allowed|skipTLSVerify/i.test(f.message)) {
      // our configuration, not an outage: stop spawning with the fix, never count it as a worker failure
      kind = 'invalid_request';
      message = `kubernetes: the kubeconfig's API server cannot be reached as configured (${f.message}): use an https server, or set insecure-skip-tls-verify: true on the cluster in the kubeconfig (KUBECONFIG)`;
    } else if (f.code === 403 && /exceeded quota/i.test(f.message)) {
      kind = 'capacity';
      message = `kubernetes: the namespace ${ns} has no quota left for another worker pod: ${f.message}`;
    } else if (f.code === 403) {
      kind = 'auth';
      message = `kubernetes RBAC refused verb "${verb}" on resource "pods" in namespace ${ns}: ${f.message}`;
    } else if (f.code === 401) {
      kind = 'auth';
      message = `kubernetes refused our credentials (401) to ${what}: check the kubeconfig or service account token`;
    } else if (f.code === 404 && verb === 'create') {
      kind = 'invalid_request';
      message = `kubernetes: namespace ${ns} not found (K8S_NAMESPACE): ${f.message}`;
    } else if (f.code === 400 || f.code === 422) {
      kind = 'invalid_request';
      message = `kubernetes rejected the worker pod (${f.reason || f.code}): ${f.message}`;
    } else if (f.code === 429) {
      kind = 'rate_limited';
    }
    return new ProviderError(kind, message, undefined, { verb, resource: 'pods', namespace: ns, status: f.code });
  }
}
