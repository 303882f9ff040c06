import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { HttpEndpoint } from '../../src/observe/http';
import { DEFAULT_POLICY } from '../../src/policies/index';
import { BACKENDS, harness } from '../helpers/harness';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(__dirname, '..', '..', 'test-results');

describe('the dashboard in a headless browser', () => {
  test('loads, shows the worker count, draws both charts and explains a decision on click', async () => {
    if (!fs.existsSync(CHROMIUM))
      throw new Error(
        `${CHROMIUM} is missing: the dashboard test needs Debian's chromium (apt-get install -y chromium; .ci/run installs it)`,
      );
    const backend = BACKENDS.pglite();
    // the configuration users get: the default policy (the harness otherwise runs the operators')
    const h = await harness(backend, { env: { POLICY: DEFAULT_POLICY, MAX_WORKERS: '6' } });
    const endpoint = new HttpEndpoint({
      store: h.store,
      host: '127.0.0.1',
      port: 0,
      now: () => h.clock.now(),
      refreshSec: 1,
      providerName: 'simulated',
    });
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    try {
      // a scripted run: quiet, a burst, work done
      for (const queued of [0, 0, 3, 51, 40, 25, 12, 4, 0, 0]) {
        h.source.set(queued, Math.min(queued, 6));
        await h.cycle();
      }
      const { port } = await endpoint.start();
      const state = (await endpoint.state('1h')) as { fleet: { count: number }; series: { t: number[] } };
      expect(state.series.t.length).toBe(10);

      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction(`document.getElementById('worker-count').textContent === '${state.fleet.count}'`);
      expect(state.fleet.count).toBeGreaterThan(0);
      for (const id of ['chart-tasks', 'chart-workers']) {
        await page.waitForSelector(`#${id} .uplot canvas`);
        expect(await page.getAttribute(`#${id}`, 'data-points')).toBe('10');
        // drawn: the canvas has non-blank pixels
        // page-side code as a string: this project's TypeScript has no DOM types
        const inked = Number(
          await page.evaluate(`(() => {
            const c = document.querySelector('#${id} canvas');
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
            return n;
          })()`),
        );
        expect(inked).toBeGreaterThan(100);
      }
      // the math column: the default policy's terms by name and value, rendered by the server
      const cells = await page.locator('#decisions tbody td:last-child').allTextContents();
      expect(cells).toHaveLength(10);
      for (const cell of cells) {
        expect(cell).toMatch(/^max\(warm \d+, byQueue \d+\) = \d+/);
        expect(cell).not.toMatch(/undefined|NaN|\[object/);
      }
      expect(cells.join('\n')).toContain('cap MAX_WORKERS=6: ');
      // click the scale-up and see its explain timeline
      const row = page.locator('#decisions tbody tr', { hasText: 'SCALE_UP' }).last();
      const cycle = await row.getAttribute('data-cycle');
      await row.click();
      await page.waitForFunction(`document.getElementById('explain').dataset.cycle === '${cycle}'`);
      const text = await page.textContent('#explain');
      expect(text).toContain('SCALING DECISION');
      expect(text).toContain(`cycle #${cycle}`);
      expect(problems).toEqual([]);

      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    } finally {
      await browser.close();
      await endpoint.stop();
      await h.close();
      await backend.teardown();
    }
  }, 180_000);
});
