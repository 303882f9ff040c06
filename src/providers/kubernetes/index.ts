import type { Clock } from '../../clock';
import { clientPodApi, KubernetesProvider, type PodApi } from './provider';
import { type KubernetesSettings, kubernetesPodShape } from './settings';

export * from './pod';
export * from './provider';
export * from './settings';

/** The Kubernetes provider from checked settings (PROVIDER=kubernetes); `api` for tests. */
export function kubernetesProviderFromConfig(
  s: KubernetesSettings,
  clock: Clock,
  log?: (level: 'info' | 'warning', message: string) => void,
  api: PodApi = clientPodApi(s.K8S_CONTEXT, log),
): KubernetesProvider {
  return new KubernetesProvider({
    api,
    namespace: s.K8S_NAMESPACE,
    shape: kubernetesPodShape(s),
    terminationGraceSec: s.K8S_TERMINATION_GRACE_SEC,
    clock,
    retry: { ...{ baseDelayMs: 500, maxDelayMs: 10_000 }, maxAttempts: s.K8S_MAX_ATTEMPTS },
    log,
    capacityBackoff: {
      baseMs: s.K8S_CAPACITY_BACKOFF_BASE_SEC * 1000,
      maxMs: Math.max(s.K8S_CAPACITY_BACKOFF_BASE_SEC, s.K8S_CAPACITY_BACKOFF_MAX_SEC) * 1000,
    },
  });
}
