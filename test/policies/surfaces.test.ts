import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { summarize } from '../../src/cli/events';
import { decisionLines } from '../../src/cli/status';
import { conclude, explain } from '../../src/explain/explain';
import { HttpEndpoint } from '../../src/observe/http';
import { POLICY_NAMES } from '../../src/policies/index';
import type { DecisionSummary } from '../../src/projections/dashboard-queries';
import { BACKENDS, harness } from '../helpers/harness';

/**
 * Every surface that renders a decision (the log's lines and blocks, explain, events, status, the
 * dashboard's payload and its page in a browser) renders every decision of a scripted run, under
 * every policy, without a hole: no `undefined`, `NaN` or `[object`. The run has a burst that the
 * caps cut and idle cycles that each policy's floor raises.
 */

const CHROMIUM = '/usr/bin/chromium';
const HOLES = /undefined|NaN|\[object/;
/** Quiet, a burst, work done, then idle long enough for idle workers to go. */
const SCRIPT = [0, 0, 3, 51, 40, 25, 12, 4, 0, 0, 0, 0, 0, 0, 0];
/** Each policy's floor, set for all (a policy validates only its own). */
const FLOORS: Record<string, string> = {
  operators: 'MIN_ACTIVE_GPUS',
  keda: 'KEDA_MIN_WORKERS',
  hpa: 'HPA_MIN_WORKERS',
};

const holes = (texts: readonly string[]) => texts.filter((t) => HOLES.test(t));

describe('every surface renders every decision under every policy', () => {
  const browser = fs.existsSync(CHROMIUM) ? chromium.launch({ executablePath: CHROMIUM, headless: true }) : null;
  afterAll(async () => {
    await (await browser)?.close();
  });

  test.each(POLICY_NAMES)(
    'POLICY=%s',
    async (policy) => {
      if (!browser) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
      const backend = BACKENDS.pglite();
      const h = await harness(backend, {
        env: {
          POLICY: policy,
          MAX_WORKERS: '6',
          MAX_ACTIVE_GPUS: '5',
          GPU_IDLE_TIMEOUT_SEC: '30',
          MIN_ACTIVE_GPUS: '1',
          KEDA_MIN_WORKERS: '1',
          HPA_MIN_WORKERS: '1',
          KEDA_COOLDOWN_SEC: '30',
          HPA_SCALE_DOWN_STABILIZATION_SEC: '30',
        },
      });
      const endpoint = new HttpEndpoint({
        store: h.store,
        host: '127.0.0.1',
        port: 0,
        now: () => h.clock.now(),
        refreshSec: 60,
        providerName: 'simulated',
      });
      try {
        for (const queued of SCRIPT) {
          h.source.set(queued, Math.min(queued, 5));
          await h.cycle();
        }
        const events = await h.events();
        const decisions = events.filter((e) => e.type === 'ScalingDecided');
        expect(decisions).toHaveLength(SCRIPT.length);
        expect(decisions.every((d) => d.data.policy.name === policy)).toBe(true);

        // the log: one-liners, blocks, actions, on stdout and the stderr mirror
        const log = `${h.stdout.text}\n${h.stderr.text}`;
        expect(holes(log.split('\n'))).toEqual([]);
        expect(log).toContain('cap MAX_WORKERS=6 cut desired');
        const floor = FLOORS[policy];
        if (floor) {
          // the policy's floor is recorded and rendered as a floor, whatever its name
          expect(decisions.some((d) => d.data.limits.some((l) => l.name === floor && l.kind === 'floor'))).toBe(true);
          expect(log).toMatch(new RegExp(`floor ${floor}=1 raised desired 0 -> 1 worker`));
        }

        // every cycle says its task count and decision on stdout and once on stderr; the banner
        // (the framed blocks) only when something changed: the idle tail is one line each
        for (let cycle = 1; cycle <= SCRIPT.length; cycle++) {
          expect(h.stdout.text).toContain(`🔢 TASK COUNT (Cycle #${cycle}): `);
          expect(h.stdout.text).toContain(`🎯 SCALING DECISION (Cycle #${cycle}): `);
          expect(h.stderr.lines().filter((l) => l.includes(`TASK COUNT cycle=${cycle} `))).toHaveLength(1);
          expect(h.stderr.lines().filter((l) => l.includes(`SCALING DECISION cycle=${cycle} `))).toHaveLength(1);
        }
        const banners = h.stdout.lines().filter((l) => l.includes('📋 DETAILED TASK BREAKDOWN')).length;
        const quiet = h.stdout.lines().filter((l) => /Desired=\d+ \(MAINTAIN, unchanged since cycle #\d+\)$/.test(l));
        expect(quiet.length).toBeGreaterThanOrEqual(2);
        expect(banners + quiet.length).toBe(SCRIPT.length);

        // explain: the timeline and the conclusion of every cycle
        for (const d of decisions) {
          const x = explain(events, { focusCycle: d.data.cycle });
          expect(holes([...x.timeline.map((l) => l.text), x.conclusion])).toEqual([]);
          expect(x.conclusion).toContain(`The ${policy} policy computed desired = `);
        }
        const x = explain(events, {});
        if (floor) {
          expect(
            x.cycles.some((c) => c.decision && new RegExp(`The floor ${floor}=1 raised it`).test(conclude(c))),
          ).toBe(true);
          expect(x.timeline.map((l) => l.text)).toContainEqual(
            expect.stringMatching(new RegExp(`^SCALING DECISION: Current=\\d+, Desired=1 \\(raised by ${floor}=1\\)$`)),
          );
        }

        // events: one line per event
        expect(holes(events.map((e) => summarize(e)))).toEqual([]);

        // status: the decision block of every row of the projection
        const rows = await h.store.db.query<Record<string, unknown>>('select * from scaling_decisions order by cycle');
        expect(rows).toHaveLength(SCRIPT.length);
        for (const row of rows) {
          const lines = decisionLines(row, h.clock.now(), true);
          expect(holes(lines)).toEqual([]);
          expect(lines.join('\n')).toContain(`  policy    ${policy}: `);
        }

        // the dashboard's payload: the math rendered on the server, for every decision
        const state = (await endpoint.state('1h')) as { decisions: DecisionSummary[] };
        expect(state.decisions).toHaveLength(SCRIPT.length);
        for (const d of state.decisions) {
          expect(d.policy).toBe(policy);
          expect(holes([d.math, d.mathFull])).toEqual([]);
          expect(d.math).toMatch(/= \d+/);
        }

        // the page in a browser shows that text
        const { port } = await endpoint.start();
        const page = await (await browser).newPage();
        try {
          const problems: string[] = [];
          page.on('pageerror', (e) => problems.push(e.message));
          await page.goto(`http://127.0.0.1:${port}/`);
          await page.waitForFunction(`document.querySelectorAll('#decisions tbody tr').length === ${SCRIPT.length}`);
          const cells = await page.locator('#decisions tbody td.math').allTextContents();
          expect(cells).toEqual(state.decisions.map((d) => d.math));
          expect(holes([(await page.locator('#decisions').textContent()) ?? ''])).toEqual([]);
          expect(problems).toEqual([]);
        } finally {
          await page.close();
        }
      } finally {
        await endpoint.stop();
        await h.close();
        await backend.teardown();
      }
    },
    300_000,
  );
});
