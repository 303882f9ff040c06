import { loadConfig } from '../../src/config';
import { kubernetesProviderFromConfig } from '../../src/providers/kubernetes/index';
import { FakeKubeApi } from '../fakes/kube-api';
import { pgliteBackend } from '../helpers/backends';
import { harness } from '../helpers/harness';

// Kubernetes over plain http (#23.2): a kubeconfig whose server is http:// without
// insecure-skip-tls-verify made every create fail with "HTTP protocol is not allowed when
// skipTLSVerify is not set", and those failures opened the circuit breaker.

const NS = 'gpu';
let api: FakeKubeApi;
let h: Awaited<ReturnType<typeof harness>> | undefined;
const saved = process.env.KUBECONFIG;

beforeEach(async () => {
  api = await new FakeKubeApi({ namespace: NS, skipTlsVerify: false }).start();
  process.env.KUBECONFIG = api.kubeconfig;
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  await api.stop();
  if (saved === undefined) delete process.env.KUBECONFIG;
  else process.env.KUBECONFIG = saved;
});

test('an http:// API server without insecure-skip-tls-verify works, with one warning; no failure reaches the breaker', async () => {
  const logs: string[] = [];
  const cfg = loadConfig({ PROVIDER: 'kubernetes', K8S_NAMESPACE: NS, K8S_IMAGE: 'ghcr.io/acme/w:1' });
  const provider = kubernetesProviderFromConfig(cfg, { now: () => new Date(), sleep: async () => {} }, (l, m) =>
    logs.push(`${l}: ${m}`),
  );
  h = await harness(pgliteBackend(), { provider });
  h.source.set(3);
  for (let i = 0; i < 3; i++) await h.cycle();
  expect(api.calls('create').map((c) => c.status)).toEqual([201, 201, 201]);
  expect(await h.events('WorkerSpawnFailed')).toEqual([]);
  expect((await h.events('AnomalyDetected')).map((e) => e.data.kind)).not.toContain('circuit_breaker_open');
  expect(logs).toEqual([
    `warning: kubernetes: the API server ${api.url} is plain http: requests and credentials are not encrypted (use https outside a trusted network)`,
  ]);
});
