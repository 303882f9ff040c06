import { meteredProvider } from '../../src/observe/metered-provider';
import type { PodInfo, Provider } from '../../src/providers/provider';
import { listEveryPod } from '../../src/shadow/observe';

const pod = (podId: string, name: string): PodInfo => ({
  podId,
  name,
  workerId: null,
  idempotencyKey: null,
  status: 'running',
  createdAt: '2026-11-27T17:00:00.000Z',
});

test('every pod is listed through the metered provider too (listAll is forwarded and counted)', async () => {
  const inner: Provider = {
    name: 'p',
    gpusPerWorker: 1,
    spawn: async () => {
      throw new Error('no');
    },
    terminate: async () => {},
    list: async () => [pod('1', 'gpu-scaler-a')],
    listAll: async () => [pod('1', 'gpu-scaler-a'), pod('2', 'reigh-worker-1')],
  };
  const calls: string[] = [];
  const metered = meteredProvider(inner, { providerCall: (op, status) => calls.push(`${op} ${status}`) });
  expect((await listEveryPod(metered)).map((p) => p.podId)).toEqual(['1', '2']);
  expect(calls).toEqual(['list_all ok']);
  // a provider without listAll: its list is every pod it can see
  const { listAll: _omit, ...plain } = inner;
  expect((await listEveryPod(meteredProvider(plain, { providerCall: () => {} }))).map((p) => p.podId)).toEqual(['1']);
});
