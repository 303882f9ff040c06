import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalProvider } from '../../src/providers/local';
import type { ProviderError } from '../../src/providers/provider';
import { waitFor } from '../helpers/wait';

/** How many beats the worker has written (it appends one every 50 ms while it runs). */
const beatsIn = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

(process.platform === 'linux' ? describe : describe.skip)('local provider: park is SIGSTOP, unpark is SIGCONT', () => {
  test('a parked worker keeps its process and slot, is listed exited, takes nothing; unpark resumes it; terminate ends a parked one', async () => {
    // the scheduler state in /proc is not a reliable witness here (some kernels show a stopped
    // shell as D): the worker's own heartbeat is, as it stands for taking tasks
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-local-park-'));
    const beat = path.join(dir, 'beat');
    const p = new LocalProvider({
      command: `while true; do echo x >> ${beat}; sleep 0.05; done`,
      maxWorkers: 1,
      graceMs: 2000,
    });
    try {
      const pod = await p.spawn({ workerId: 'w1', idempotencyKey: 'w1' });
      await waitFor(() => beatsIn(beat) > 0, 'the worker running');
      await p.park(pod.podId);
      // stopped: no beat between two looks 300 ms apart, and none in the next 300 ms either
      let seen = -1;
      await waitFor(async () => {
        const before = beatsIn(beat);
        await pause(300);
        seen = beatsIn(beat);
        return seen === before;
      }, 'the worker stopped (no heartbeat)');
      await pause(300);
      expect(beatsIn(beat)).toBe(seen);
      expect((await p.list())[0]).toMatchObject({ podId: pod.podId, status: 'exited', details: { parked: true } });
      // the slot stays taken: it keeps its GPU
      const full = await p.spawn({ workerId: 'w2', idempotencyKey: 'w2' }).catch((e: unknown) => e);
      expect((full as ProviderError).kind).toBe('capacity');
      const back = await p.unpark(pod.podId);
      expect(back.status).toBe('running');
      await waitFor(() => beatsIn(beat) > seen, 'the worker running again (its heartbeat again)');
      await p.park(pod.podId);
      await p.terminate(pod.podId);
      expect(await p.list()).toEqual([]);
      const gone = await p.unpark(pod.podId).catch((e: unknown) => e);
      expect((gone as ProviderError).kind).toBe('capacity');
    } finally {
      await p.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
