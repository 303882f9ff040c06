import fs from 'node:fs';
import { LocalProvider } from '../../src/providers/local';
import type { ProviderError } from '../../src/providers/provider';
import { waitFor } from '../helpers/wait';

/** The scheduler state of a process (R, S, T...), from /proc. */
const stateOf = (pid: number) => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];

(process.platform === 'linux' ? describe : describe.skip)('local provider: park is SIGSTOP, unpark is SIGCONT', () => {
  test('a parked worker keeps its process and slot, is listed exited, takes nothing; unpark resumes it; terminate ends a parked one', async () => {
    const p = new LocalProvider({ command: 'while true; do sleep 0.05; done', maxWorkers: 1, graceMs: 2000 });
    try {
      const pod = await p.spawn({ workerId: 'w1', idempotencyKey: 'w1' });
      const pid = Number(pod.details?.pid);
      await p.park(pod.podId);
      await waitFor(() => stateOf(pid) === 'T', 'the worker stopped (state T)');
      expect((await p.list())[0]).toMatchObject({ podId: pod.podId, status: 'exited', details: { parked: true } });
      // the slot stays taken: it keeps its GPU
      const full = await p.spawn({ workerId: 'w2', idempotencyKey: 'w2' }).catch((e: unknown) => e);
      expect((full as ProviderError).kind).toBe('capacity');
      const back = await p.unpark(pod.podId);
      expect(back.status).toBe('running');
      await waitFor(() => stateOf(pid) !== 'T', 'the worker running again');
      await p.park(pod.podId);
      await p.terminate(pod.podId);
      expect(await p.list()).toEqual([]);
      const gone = await p.unpark(pod.podId).catch((e: unknown) => e);
      expect((gone as ProviderError).kind).toBe('capacity');
    } finally {
      await p.close();
    }
  });
});
