import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1ConfigMap, V1Deployment, V1Role, V1RoleBinding, V1Service } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { workerPod, workerPodShape } from '../../src/providers/kubernetes/pod';
import { importClient } from '../../src/providers/kubernetes/provider';
import { readPodTemplate } from '../../src/providers/kubernetes/settings';
import { packageRoot } from '../../src/util/package-root';

// deploy/kubernetes parses as Kubernetes objects (with the official client's YAML loader), grants
// only what the provider calls, wires the Deployment to its ServiceAccount, and publishes its HTTP
// endpoint through a Service; deploy/kubernetes/monitoring adds a ServiceMonitor for that Service.

const dir = path.join(packageRoot(), 'deploy/kubernetes');

let objects: { file: string; kind: string; name: string; obj: Record<string, unknown> }[];

beforeAll(async () => {
  const k8s = await importClient();
  objects = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((file) =>
      k8s.loadAllYaml(fs.readFileSync(path.join(dir, file), 'utf8')).map((obj: Record<string, unknown>) => ({
        file,
        kind: String(obj.kind),
        name: String((obj.metadata as { name?: string } | undefined)?.name ?? ''),
        obj,
      })),
    );
});

const one = <T>(kind: string): T => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found.map((o) => o.kind)).toEqual([kind]);
  return found[0].obj as T;
};

test('every file is an object of a known kind, and the kustomization lists them all', () => {
  expect(objects.map((o) => `${o.file}: ${o.kind}`).sort()).toEqual([
    'deployment.yaml: Deployment',
    'kustomization.yaml: Kustomization',
    'namespace.yaml: Namespace',
    'role.yaml: Role',
    'rolebinding.yaml: RoleBinding',
    'service.yaml: Service',
    'serviceaccount.yaml: ServiceAccount',
    'worker-pod-template.yaml: ConfigMap',
  ]);
  const k = one<{ resources: string[] }>('Kustomization');
  expect(k.resources.sort()).toEqual(
    objects
      .filter((o) => o.kind !== 'Kustomization')
      .map((o) => o.file)
      .sort(),
  );
});

test('the Role grants create, get, list and delete on pods, create on events, and nothing else', () => {
  const role = one<V1Role>('Role');
  expect(role.rules).toEqual([
    { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'delete'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  ]);
  const binding = one<V1RoleBinding>('RoleBinding');
  expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata?.name });
  expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'gpu-scaler' }]);
});

test('the Deployment runs as the ServiceAccount, with the worker template mounted and secrets by reference', () => {
  const sa = one<{ metadata: { name: string } }>('ServiceAccount');
  const d = one<V1Deployment>('Deployment');
  const spec = d.spec?.template.spec;
  expect(spec?.serviceAccountName).toBe(sa.metadata.name);
  const c = spec?.containers[0];
  const env = Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
  expect(env.PROVIDER).toBe('kubernetes');
  expect(env.DATABASE_URL).toEqual({ secretKeyRef: { name: 'gpu-scaler', key: 'DATABASE_URL' } });
  expect(env.K8S_NAMESPACE).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
  const mount = c?.volumeMounts?.find((m) => m.name === 'worker-pod');
  expect(path.dirname(String(env.K8S_POD_TEMPLATE))).toBe(mount?.mountPath);
  const cm = one<V1ConfigMap>('ConfigMap');
  expect(spec?.volumes?.find((v) => v.name === 'worker-pod')?.configMap?.name).toBe(cm.metadata?.name);
  expect(spec?.securityContext?.runAsNonRoot).toBe(true);
});

test("the Deployment's probes ask the service's own /healthz and /readyz on the port it listens on", () => {
  const c = one<V1Deployment>('Deployment').spec?.template.spec?.containers[0];
  const env = Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));
  expect(env.HTTP_HOST).toBe('0.0.0.0');
  const port = c?.ports?.find((p) => p.name === 'http');
  expect(port?.containerPort).toBe(Number(env.HTTP_PORT));
  expect(c?.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
  expect(c?.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
});

test('the worker pod template in the ConfigMap is one a start-up would accept', () => {
  const cm = one<V1ConfigMap>('ConfigMap');
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gs-tpl-')), 'worker-pod.yaml');
  fs.writeFileSync(tmp, cm.data?.['worker-pod.yaml'] ?? '');
  const shape = workerPodShape(readPodTemplate(tmp), {});
  expect(shape.gpuCount).toBe(1);
  expect(shape.base.spec?.restartPolicy).toBe('Never');
});

/** The labels a worker pod gets: its template's, and the ones the provider adds. */
function workerPodLabels(): Record<string, string> {
  const cm = one<V1ConfigMap>('ConfigMap');
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gs-tpl-')), 'worker-pod.yaml');
  fs.writeFileSync(tmp, cm.data?.['worker-pod.yaml'] ?? '');
  const pod = workerPod(workerPodShape(readPodTemplate(tmp), {}), 'gpu-scaler', {
    workerId: 'c1-1-abcdef',
    idempotencyKey: 'c1-1-abcdef',
  });
  return pod.metadata?.labels ?? {};
}

const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  Object.keys(selector ?? {}).length > 0 && Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

test("the Service selects the controller's pods, not the workers, and reaches the endpoint even when unready", () => {
  const svc = one<V1Service>('Service');
  const d = one<V1Deployment>('Deployment');
  const podLabels = d.spec?.template.metadata?.labels ?? {};
  expect(selects(svc.spec?.selector, podLabels)).toBe(true);
  expect(selects(svc.spec?.selector, workerPodLabels())).toBe(false);
  const container = d.spec?.template.spec?.containers[0];
  const http = container?.ports?.find((p) => p.name === 'http');
  expect(svc.spec?.ports).toEqual([{ name: 'http', port: http?.containerPort, targetPort: 'http' }]);
  // /readyz fails while it cannot scale: the dashboard and /metrics must stay reachable then
  expect(container?.readinessProbe?.httpGet?.path).toBe('/readyz');
  expect(svc.spec?.publishNotReadyAddresses).toBe(true);
});

describe('the monitoring add-on', () => {
  const monitoring = path.join(dir, 'monitoring');
  const kustomization = yaml.load(fs.readFileSync(path.join(monitoring, 'kustomization.yaml'), 'utf8')) as {
    namespace: string;
    resources: string[];
  };
  const monitor = yaml.load(fs.readFileSync(path.join(monitoring, 'servicemonitor.yaml'), 'utf8')) as {
    apiVersion: string;
    kind: string;
    metadata: { name: string; labels: Record<string, string> };
    spec: {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string; interval: string }[];
    };
  };

  test('is a ServiceMonitor of the base namespace, kept out of the base (kustomize refuses a base containing its overlay)', () => {
    const base = one<{ namespace: string; resources: string[] }>('Kustomization');
    expect(kustomization.resources).toEqual(['servicemonitor.yaml']);
    expect(kustomization.namespace).toBe(base.namespace);
    expect(base.resources.filter((r) => r.startsWith('monitoring'))).toEqual([]);
    expect([monitor.apiVersion, monitor.kind]).toEqual(['monitoring.coreos.com/v1', 'ServiceMonitor']);
  });

  test("scrapes the Service's http port at /metrics", () => {
    const svc = one<V1Service>('Service');
    expect(selects(monitor.spec.selector.matchLabels, svc.metadata?.labels ?? {})).toBe(true);
    expect(monitor.spec.endpoints).toEqual([{ port: svc.spec?.ports?.[0].name, path: '/metrics', interval: '30s' }]);
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
  (kubectl ? test : test.skip)('kubectl kustomize builds the base and the add-on (skipped without kubectl)', () => {
    const kinds = (d: string) =>
      [...execFileSync('kubectl', ['kustomize', d], { encoding: 'utf8', timeout: 60_000 }).matchAll(/^kind: (\S+)$/gm)]
        .map((m) => m[1])
        .sort();
    expect(kinds(dir)).toEqual(
      ['ConfigMap', 'Deployment', 'Namespace', 'Role', 'RoleBinding', 'Service', 'ServiceAccount'].sort(),
    );
    expect(kinds(monitoring)).toEqual(['ServiceMonitor']);
  });
  if (!kubectl) console.log('kubectl is not on the PATH: the kustomize build of deploy/kubernetes is not checked');
});
