import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { ConfigError, loadConfig } from '../../src/config';
import {
  GPU_RESOURCE,
  LABEL_IDEMPOTENCY_KEY,
  LABEL_MANAGED_BY,
  LABEL_WORKER_ID,
  podInfoOf,
  podStatusOf,
  workerPod,
  workerPodShape,
} from '../../src/providers/kubernetes/pod';
import { kubernetesPodShape, podShapeSettings } from '../../src/providers/kubernetes/settings';

// The pure half of the Kubernetes provider: the worker pod from template and settings, and what a
// pod's status means. No API server here.

const TEMPLATE = `
apiVersion: v1
kind: Pod
metadata:
  labels:
    team: vision
  annotations:
    note: from the template
spec:
  serviceAccountName: worker
  containers:
    - name: worker
      image: ghcr.io/acme/worker:1.0
      env:
        - name: HF_HOME
          value: /cache
      resources:
        limits:
          nvidia.com/gpu: 2
          memory: 32Gi
    - name: sidecar
      image: busybox
  tolerations:
    - key: nvidia.com/gpu
      operator: Exists
      effect: NoSchedule
`;

function templateFile(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-tpl-'));
  const file = path.join(dir, 'worker-pod.yaml');
  fs.writeFileSync(file, text);
  return file;
}

const base = { PROVIDER: 'kubernetes' };
function problems(env: Record<string, string>): string {
  try {
    loadConfig({ ...base, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.join('\n');
  }
  return '';
}

const req = { workerId: 'c7-1-ab12cd', idempotencyKey: 'c7-1-ab12cd', env: { GPU_SCALER_WORKER_ID: 'c7-1-ab12cd' } };

describe('the worker pod', () => {
  test('a template merged with our labels, env, name and the GPU limit', () => {
    const cfg = loadConfig({ ...base, K8S_POD_TEMPLATE: templateFile(TEMPLATE), K8S_ENV: '{"MODEL":"sdxl"}' });
    const shape = kubernetesPodShape(cfg);
    expect(shape.gpuCount).toBe(2);
    const pod = workerPod(shape, 'gpu', req);
    expect(pod.metadata).toEqual({
      name: 'gpu-scaler-c7-1-ab12cd',
      namespace: 'gpu',
      labels: {
        team: 'vision',
        [LABEL_MANAGED_BY]: 'gpu-scaler',
        [LABEL_WORKER_ID]: 'c7-1-ab12cd',
        [LABEL_IDEMPOTENCY_KEY]: 'c7-1-ab12cd',
      },
      annotations: { note: 'from the template' },
    });
    expect(pod.spec?.restartPolicy).toBe('Never');
    expect(pod.spec?.serviceAccountName).toBe('worker');
    const [worker, sidecar] = pod.spec?.containers ?? [];
    expect(worker.resources?.limits).toEqual({ [GPU_RESOURCE]: '2', memory: '32Gi' });
    expect(worker.env).toEqual([
      { name: 'HF_HOME', value: '/cache' },
      { name: 'MODEL', value: 'sdxl' },
      { name: 'GPU_SCALER_WORKER_ID', value: 'c7-1-ab12cd' },
    ]);
    expect(sidecar).toEqual({ name: 'sidecar', image: 'busybox' });
    // the shape is not changed by making a pod from it
    expect(workerPod(shape, 'gpu', { ...req, workerId: 'w2', idempotencyKey: 'w2' }).metadata?.labels).toMatchObject({
      [LABEL_WORKER_ID]: 'w2',
      team: 'vision',
    });
  });

  test('settings alone make a pod: image, GPUs, node selector, tolerations, priority class', () => {
    const cfg = loadConfig({
      ...base,
      K8S_IMAGE: 'ghcr.io/acme/worker:2',
      K8S_GPU_COUNT: '4',
      K8S_NODE_SELECTOR: 'cloud.google.com/gke-accelerator=nvidia-l4, pool=gpu',
      K8S_TOLERATIONS: '[{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}]',
      K8S_PRIORITY_CLASS: 'batch-low',
    });
    const pod = workerPod(kubernetesPodShape(cfg), 'default', req);
    expect(pod.spec).toEqual({
      restartPolicy: 'Never',
      containers: [
        {
          name: 'worker',
          image: 'ghcr.io/acme/worker:2',
          resources: { limits: { [GPU_RESOURCE]: '4' } },
          env: [{ name: 'GPU_SCALER_WORKER_ID', value: 'c7-1-ab12cd' }],
        },
      ],
      nodeSelector: { 'cloud.google.com/gke-accelerator': 'nvidia-l4', pool: 'gpu' },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
      priorityClassName: 'batch-low',
    });
  });

  test('bad templates and settings are start-up errors that say what is wrong', () => {
    expect(problems({ K8S_POD_TEMPLATE: templateFile(TEMPLATE), K8S_GPU_COUNT: '1' })).toMatch(
      /asks for nvidia.com\/gpu=2 but K8S_GPU_COUNT=1/,
    );
    expect(problems({ K8S_POD_TEMPLATE: templateFile(TEMPLATE.replace('kind: Pod', 'kind: Deployment')) })).toMatch(
      /must be one object of kind Pod \(got kind "Deployment"\)/,
    );
    expect(
      problems({ K8S_POD_TEMPLATE: templateFile(TEMPLATE.replace('spec:\n', 'spec:\n  restartPolicy: Always\n')) }),
    ).toMatch(/restartPolicy is Always: only Never is allowed/);
    expect(problems({ K8S_POD_TEMPLATE: templateFile('kind: Pod\nspec: {containers: [}') })).toMatch(
      /is not valid YAML/,
    );
    expect(problems({ K8S_POD_TEMPLATE: '/nonexistent/worker.yaml' })).toMatch(
      /K8S_POD_TEMPLATE=\/nonexistent\/worker.yaml cannot be read: ENOENT/,
    );
    expect(problems({})).toMatch(/no image: set K8S_IMAGE/);
    expect(problems({ K8S_IMAGE: 'x', K8S_TOLERATIONS: '{"key":"a"}' })).toMatch(/K8S_TOLERATIONS is not allowed/);
    expect(problems({ K8S_IMAGE: 'x', K8S_NODE_SELECTOR: 'pool' })).toMatch(/K8S_NODE_SELECTOR entry "pool"/);
    expect(problems({ K8S_IMAGE: 'x', K8S_NAMESPACE: 'GPU_Pool' })).toMatch(/K8S_NAMESPACE="GPU_Pool" is not allowed/);
    expect(problems({ K8S_IMAGE: 'x' })).toBe('');
    // not the provider in use: not checked
    expect(() => loadConfig({ PROVIDER: 'simulated', K8S_POD_TEMPLATE: '/nonexistent' })).not.toThrow();
  });

  test('a GPU request must equal the limit', () => {
    const t = {
      kind: 'Pod',
      spec: { containers: [{ name: 'w', image: 'i', resources: { requests: { [GPU_RESOURCE]: '1' } } }] },
    };
    expect(() =>
      workerPodShape(t, podShapeSettings(loadConfig({ ...base, K8S_IMAGE: 'i', K8S_GPU_COUNT: '2' }))),
    ).toThrow(/requests nvidia.com\/gpu=1 but its limit is 2/);
  });
});

describe('what a pod status means', () => {
  const pod = (status: V1Pod['status'], extra: Partial<V1Pod['metadata']> = {}): V1Pod => ({
    metadata: { name: 'gpu-scaler-k1', labels: { [LABEL_WORKER_ID]: 'k1', [LABEL_IDEMPOTENCY_KEY]: 'k1' }, ...extra },
    spec: { containers: [{ name: 'w', resources: { limits: { [GPU_RESOURCE]: '2' } } }] },
    status,
  });
  test.each([
    [{ phase: 'Pending' }, 'starting'],
    [{ phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] }, 'starting'],
    [{ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }, 'running'],
    [{ phase: 'Succeeded' }, 'exited'],
    [{ phase: 'Failed' }, 'failed'],
  ] as const)('%j is %s', (status, expected) => {
    expect(podStatusOf(pod(status as V1Pod['status']))).toBe(expected);
  });

  test('a pod being deleted is terminated; an unschedulable one says why; exit codes are read', () => {
    expect(podStatusOf(pod({ phase: 'Running' }, { deletionTimestamp: new Date() }))).toBe('terminated');
    const waiting = podInfoOf(
      pod({
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/4 nodes' }],
      }),
      1,
    );
    expect(waiting).toMatchObject({
      podId: 'gpu-scaler-k1',
      workerId: 'k1',
      idempotencyKey: 'k1',
      status: 'starting',
      gpuCount: 2,
      details: { phase: 'Pending', unschedulable: '0/4 nodes' },
    });
    const failed = podInfoOf(
      pod({
        phase: 'Failed',
        containerStatuses: [
          {
            name: 'w',
            image: 'i',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode: 137 } },
          },
        ],
      }),
      1,
    );
    expect([failed.status, failed.exitCode]).toEqual(['failed', 137]);
    expect(podInfoOf(pod({ phase: 'Succeeded' }), 1).exitCode).toBe(0);
  });
});
