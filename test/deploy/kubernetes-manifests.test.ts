import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1ConfigMap, V1Deployment, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import { workerPodShape } from '../../src/providers/kubernetes/pod';
import { importClient } from '../../src/providers/kubernetes/provider';
import { readPodTemplate } from '../../src/providers/kubernetes/settings';
import { packageRoot } from '../../src/util/package-root';

// deploy/kubernetes parses as Kubernetes objects (with the official client's YAML loader), grants
// only what the provider calls, and wires the Deployment to its ServiceAccount.

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
