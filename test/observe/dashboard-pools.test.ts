import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { MemoryLog } from '../../src/control/log';
import { HttpEndpoint } from '../../src/observe/http';
import { SimulatedProvider } from '../../src/providers/simulated';
import { buildSystem } from '../../src/system';
import { BACKENDS, forEachBackend, harness, ScriptedSource } from '../helpers/harness';
import { parseScrape } from '../helpers/prometheus';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(__dirname, '..', '..', 'test-results');

/** The page's text of `selector` (page-side code as a string: this project's TypeScript has no DOM types). */
const textOf = (selector: string) => `document.querySelector(${JSON.stringify(selector)}).textContent`;

forEachBackend('the dashboard with two pools, in a headless browser', BACKENDS, (backend) => {
  test('a pool selector, an all-pools view of each pool, and one pool alone; the default policy reads in words', async () => {
    if (!fs.existsSync(CHROMIUM))
      throw new Error(
        `${CHROMIUM} is missing: the dashboard test needs Debian's chromium (apt-get install -y chromium; .ci/run installs it)`,
      );
    // the settings users get: POLICY unset (the harness's scenarios otherwise run the operators' policy)
    const h = await harness(backend(), { env: { POLICY: '' } });
    const videoSource = new ScriptedSource(h.clock);
    const video = await buildSystem({
      store: h.store,
      pool: 'video',
      config: h.config,
      clock: h.clock,
      log: new MemoryLog(),
      dbLogging: () => h.logging.dbStats(),
      provider: new SimulatedProvider({ clock: h.clock, startupMinSec: 5, startupMaxSec: 10, failureRate: 0, seed: 2 }),
      source: videoSource,
      reactorWaitMs: 0,
      projections: h.system.projections,
    });
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
      // pool default: quiet, a burst, work done; then pool video: a burst of its own
      for (const queued of [0, 0, 3, 5, 4, 2, 0, 0]) {
        h.source.set(queued, Math.min(queued, 4));
        await h.cycle();
      }
      for (const queued of [0, 5, 5]) {
        videoSource.set(queued, 0);
        await video.step();
        h.clock.advance(h.config.POLL_INTERVAL_SEC * 1000);
      }
      await h.system.projections.catchUp();
      const { port } = await endpoint.start();
      const all = (await endpoint.state('1h')) as {
        pool: string | null;
        pools: { pool: string; workers: number; desired: number | null; lastDecision: { cycle: number } | null }[];
      };
      expect(all.pool).toBeNull();
      expect(all.pools.map((p) => p.pool)).toEqual(['default', 'video']);
      const [dflt, vid] = all.pools;
      expect(vid.lastDecision?.cycle).toBe(3);
      expect(vid.desired).toBeGreaterThan(0);
      expect(vid.workers).toBeGreaterThan(0);
      expect(dflt.lastDecision?.cycle).toBe(8);

      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`http://127.0.0.1:${port}/`);
      // the all-pools view: a row a pool, its live workers, desired workers and last decision in words
      await page.waitForFunction(`document.querySelectorAll('#pools tbody tr').length === 2`);
      expect(await page.isVisible('#all-pools')).toBe(true);
      expect(await page.isVisible('#pool')).toBe(true);
      expect(await page.locator('#pool option').allTextContents()).toEqual(['all pools', 'default', 'video']);
      const rows = await page.locator('#pools tbody tr').allTextContents();
      expect(rows[0]).toMatch(/^default\d+.*#8 \d\d:\d\d:\d\d (MAINTAIN|SCALE_UP|SCALE_DOWN)/);
      expect(rows[1]).toMatch(
        new RegExp(
          `^video${vid.workers} \\(${vid.workers} (spawning|active)\\)${vid.desired}#3 \\d\\d:\\d\\d:\\d\\d [A-Z_]+`,
        ),
      );
      // the default policy's math, by its terms' names, rendered by the server
      const maths = await page.locator('#pools tbody td.math').allTextContents();
      for (const m of maths) expect(m).toMatch(/^max\(warm \d+, byQueue \d+\) = \d+/);
      expect(rows.join('\n')).not.toMatch(/undefined|NaN|\[object|null/);
      // the cards: the sums over the pools' last decisions; the charts are one pool's
      expect(await page.textContent('#desired-count')).toBe(String((dflt.desired ?? 0) + (vid.desired ?? 0)));
      expect(await page.isVisible('#charts')).toBe(false);
      // every pool's decisions together, each naming its pool
      const cycles = await page.locator('#decisions tbody td:first-child').allTextContents();
      expect(cycles.some((c) => c.startsWith('video #'))).toBe(true);
      expect(cycles.some((c) => c.startsWith('default #'))).toBe(true);

      // one pool alone: chosen in the all-pools view
      await page.locator('#pools tbody tr[data-pool="video"]').click();
      await page.waitForFunction(`${textOf('#status')}.startsWith('pool video, ')`);
      expect(await page.isVisible('#all-pools')).toBe(false);
      expect(await page.inputValue('#pool')).toBe('video');
      expect(new URL(page.url()).searchParams.get('pool')).toBe('video');
      expect(await page.textContent('#worker-count')).toBe(String(vid.workers));
      expect(await page.textContent('#desired-count')).toBe(String(vid.desired));
      await page.waitForSelector('#chart-workers .uplot canvas');
      expect(await page.getAttribute('#chart-workers', 'data-points')).toBe('3');
      const own: (string | null)[] = [];
      for (const tr of await page.locator('#decisions tbody tr').all()) own.push(await tr.getAttribute('data-pool'));
      expect(own).toEqual(['video', 'video', 'video']);
      const cells = await page.locator('#decisions tbody td:last-child').allTextContents();
      for (const cell of cells) {
        expect(cell).toMatch(/^max\(warm \d+, byQueue \d+\) = \d+/);
        expect(cell).not.toMatch(/undefined|NaN|\[object/);
      }
      // its scale-up explained from its own stream
      const up = page.locator('#decisions tbody tr', { hasText: 'SCALE_UP' }).last();
      const cycle = await up.getAttribute('data-cycle');
      await up.click();
      await page.waitForFunction(
        `document.getElementById('explain').dataset.cycle === '${cycle}' && document.getElementById('explain').dataset.pool === 'video'`,
      );
      const text = await page.textContent('#explain');
      expect(text).toContain('SCALING DECISION');
      expect(text).toContain(`cycle #${cycle}`);
      expect(text).not.toMatch(/undefined|NaN|\[object/);

      // back to all pools with the selector
      await page.selectOption('#pool', '');
      await page.waitForFunction(`${textOf('#status')}.startsWith('all pools, ')`);
      expect(await page.isVisible('#all-pools')).toBe(true);
      expect(problems).toEqual([]);

      // a pool the store does not have: a 400 naming those it has
      const bad = await fetch(`http://127.0.0.1:${port}/api/state?pool=image`);
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual({
        error: 'pool=image is not a pool of this store: its pools are default, video (e.g. /api/state?pool=default)',
      });

      // /metrics: each pool's live workers under its own label
      const scrape = parseScrape(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      for (const p of all.pools) {
        const live = ['spawning', 'active', 'terminating'].reduce(
          (n, status) => n + scrape.value('gpu_scaler_workers', { pool: p.pool, status }),
          0,
        );
        expect([p.pool, live]).toEqual([p.pool, p.workers]);
      }

      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-pools.png'), fullPage: true });
    } finally {
      await browser.close();
      await endpoint.stop();
      await h.close();
    }
  }, 180_000);
});
