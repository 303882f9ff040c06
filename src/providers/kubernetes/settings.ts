import fs from 'node:fs';
import yaml from 'js-yaml';
import { z } from 'zod';
import { defineSettings, int, num } from '../../settings';
import type { PodShapeSettings, WorkerPodShape } from './pod';
import { workerPodShape } from './pod';

/**
 * PROVIDER=kubernetes settings (spread into ConfigSchema), checked only when Kubernetes is the
 * provider. The cluster and credentials come from the kubeconfig (KUBECONFIG, else ~/.kube/config,
 * else the in-cluster service account), read by the official client.
 */
export const KUBERNETES_SETTINGS = {
  /** The namespace worker pods are created, listed and deleted in. */
  K8S_NAMESPACE: z.string().default('default'),
  /** A kubeconfig context other than the current one. */
  K8S_CONTEXT: z.string().optional(),
  /** A YAML file holding one Pod: the base of every worker pod (validated at start). */
  K8S_POD_TEMPLATE: z.string().optional(),
  /** The worker image (the first container's; overrides the template's). */
  K8S_IMAGE: z.string().optional(),
  /** resources.limits["nvidia.com/gpu"] of the worker container; default: the template's, else 1. */
  K8S_GPU_COUNT: int(1, 64).optional(),
  /** Node labels the pod must match: "key=value,key2=value2" or a JSON object. */
  K8S_NODE_SELECTOR: z.string().optional(),
  /** A JSON array of tolerations, e.g. [{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}]. */
  K8S_TOLERATIONS: z.string().optional(),
  /** spec.priorityClassName */
  K8S_PRIORITY_CLASS: z.string().optional(),
  /** A JSON object of extra worker environment (string values). */
  K8S_ENV: z.string().optional(),
  /** Seconds a deleted worker pod has to stop (deleteNamespacedPod gracePeriodSeconds). */
  K8S_TERMINATION_GRACE_SEC: int(0, 3600).default(30),
  /** Attempts per API call on 429 and 5xx (the first included). */
  K8S_MAX_ATTEMPTS: int(1, 20).default(4),
  /**
   * After the cluster had no room for a worker pod (quota exceeded, or a pod still Unschedulable at
   * SPAWNING_TIMEOUT_SEC), no worker pod is created for this long; the delay doubles with each
   * such failure in a row, up to K8S_CAPACITY_BACKOFF_MAX_SEC, and resets once a worker pod runs.
   * 0: no backoff.
   */
  K8S_CAPACITY_BACKOFF_BASE_SEC: num(0, 86_400).default(30),
  K8S_CAPACITY_BACKOFF_MAX_SEC: num(0, 86_400).default(600),
};

const schema = z.object(KUBERNETES_SETTINGS);
export type KubernetesSettings = z.infer<typeof schema>;

const Tolerations = z.array(
  z.object({
    key: z.string().optional(),
    operator: z.enum(['Exists', 'Equal']).optional(),
    value: z.string().optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.number().int().optional(),
  }),
);
const StringMap = z.record(z.string(), z.string());

function parseStringMap(name: string, value: string | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      throw new Error(`${name} is not valid JSON: expected an object of strings or key=value,key2=value2`);
    }
    const r = StringMap.safeParse(parsed);
    if (!r.success) throw new Error(`${name} is not allowed: expected an object whose values are all strings`);
    return r.data;
  }
  const out: Record<string, string> = {};
  for (const part of v
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`${name} entry ${JSON.stringify(part)} is not allowed: expected key=value`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Reads and parses the settings that shape a worker pod; throws naming the first bad one. */
export function podShapeSettings(s: KubernetesSettings): PodShapeSettings {
  let tolerations: PodShapeSettings['tolerations'];
  if (s.K8S_TOLERATIONS !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s.K8S_TOLERATIONS);
    } catch {
      throw new Error('K8S_TOLERATIONS is not valid JSON: expected an array of tolerations');
    }
    const r = Tolerations.safeParse(parsed);
    if (!r.success) {
      throw new Error(
        `K8S_TOLERATIONS is not allowed: expected an array of {key, operator (Exists|Equal), value, effect (NoSchedule|PreferNoSchedule|NoExecute)}: ${r.error.issues[0]?.message}`,
      );
    }
    tolerations = r.data;
  }
  return {
    image: s.K8S_IMAGE,
    gpuCount: s.K8S_GPU_COUNT,
    nodeSelector: parseStringMap('K8S_NODE_SELECTOR', s.K8S_NODE_SELECTOR),
    tolerations,
    priorityClassName: s.K8S_PRIORITY_CLASS,
    env: s.K8S_ENV === undefined ? undefined : parseStringMap('K8S_ENV', s.K8S_ENV),
  };
}

/** The template file as an object (one YAML document); throws naming the file and the problem. */
export function readPodTemplate(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`K8S_POD_TEMPLATE=${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text).filter((d) => d != null);
  } catch (err) {
    throw new Error(`K8S_POD_TEMPLATE=${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (docs.length !== 1)
    throw new Error(`K8S_POD_TEMPLATE=${file} must hold exactly one Pod (found ${docs.length} documents)`);
  return docs[0];
}

/** The checked worker pod shape from the settings (and the template file, when set). */
export function kubernetesPodShape(s: KubernetesSettings): WorkerPodShape {
  const template = s.K8S_POD_TEMPLATE ? readPodTemplate(s.K8S_POD_TEMPLATE) : null;
  try {
    return workerPodShape(template, podShapeSettings(s));
  } catch (err) {
    const where = s.K8S_POD_TEMPLATE ? `K8S_POD_TEMPLATE=${s.K8S_POD_TEMPLATE}: ` : '';
    throw new Error(`${where}${(err as Error).message}`);
  }
}

/** The rules that need more than one key or a file; run only when PROVIDER=kubernetes. */
export function checkKubernetesSettings(s: KubernetesSettings): string[] {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s.K8S_NAMESPACE) || s.K8S_NAMESPACE.length > 63) {
    return [
      `K8S_NAMESPACE=${JSON.stringify(s.K8S_NAMESPACE)} is not allowed: expected a namespace name (lowercase letters, digits and '-', at most 63)`,
    ];
  }
  try {
    kubernetesPodShape(s);
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/** PROVIDER=kubernetes: worker pods in a cluster (registered in ../registry.ts). */
export const kubernetesDefinition = defineSettings({
  name: 'kubernetes',
  settings: KUBERNETES_SETTINGS,
  secrets: ['K8S_ENV'],
  check: checkKubernetesSettings,
});
