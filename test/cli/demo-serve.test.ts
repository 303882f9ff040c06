import { Readable } from 'node:stream';
import { runDemo } from '../../src/cli/demo';
import { Capture } from '../helpers/harness';
import { waitFor } from '../helpers/wait';

describe('gpu-scaler demo --serve', () => {
  test('keeps the dashboard of the tour up until stopped', async () => {
    const stdout = new Capture();
    const stop = new AbortController();
    let url: string | null = null;
    const run = runDemo(
      { stdout, stderr: new Capture(), stdin: Readable.from([]), env: {}, isTTY: false },
      { quiet: true, serve: true, port: '0', stop: stop.signal, onServing: (u) => (url = u) },
    );
    try {
      const base = await waitFor(() => url, 'the dashboard to listen', 170_000);
      const state = (await (await fetch(`${base}api/state?window=1h`)).json()) as {
        decisions: { decision: string }[];
        series: { t: number[] };
      };
      expect(state.decisions.length).toBeGreaterThan(0);
      expect(state.series.t.length).toBeGreaterThan(0);
      expect((await fetch(base)).status).toBe(200);
      expect(stdout.text).toContain(`The dashboard of this run: ${base}`);
    } finally {
      stop.abort();
    }
    expect(await run).toBe(0);
  }, 200_000);
});
