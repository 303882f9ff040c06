import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appRegistry } from '../../events/index';
import { CONFIG_STREAM } from '../../events/operator';
import { loadConfig } from '../../src/config';
import { configChanges, judgeReload } from '../../src/config-reload';
import { openStore } from '../../src/store/index';
import { parseDatabaseUrl } from '../../src/store/open';
import { buildDist, exited, startService } from '../helpers/service-process';
import { waitFor } from '../helpers/wait';

const SECRET = 'k9Qv2Lr8Zt4Wm7Xp3Ns6';

describe('reload on SIGHUP', () => {
  test('pure: a valid change is taken, an invalid one and one that cannot change live are refused naming why', () => {
    const current = loadConfig({ MAX_WORKERS: '10' });
    const ok = judgeReload(current, () => loadConfig({ MAX_WORKERS: '3' }));
    expect(ok).toMatchObject({ ok: true, changes: [{ key: 'MAX_WORKERS', from: '10', to: '3' }] });
    const invalid = judgeReload(current, () => loadConfig({ MAX_WORKERS: '-2' }));
    expect(invalid).toEqual({
      ok: false,
      changes: [],
      problems: ['MAX_WORKERS="-2" is not allowed: expected a number >= 0'],
    });
    const fixed = judgeReload(current, () => loadConfig({ MAX_WORKERS: '3', HTTP_PORT: '9999' }));
    expect(fixed.ok).toBe(false);
    expect(!fixed.ok && fixed.problems[0]).toMatch(/^HTTP_PORT cannot change while the service runs/);
    // a secret that changes is said, never shown
    const secret = configChanges(current, loadConfig({ MAX_WORKERS: '10', TASK_COUNT_KEY: SECRET }));
    expect(secret).toEqual([{ key: 'TASK_COUNT_KEY', from: null, to: '***' }]);
  });

  describe('the service', () => {
    let dir: string;
    beforeAll(() => {
      buildDist();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-reload-'));
    }, 120_000);
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    test('a valid change acts from the next cycle; an invalid one and a restart-only one are refused and recorded, the running configuration stays', async () => {
      const file = path.join(dir, 'gpu-scaler.env');
      const write = (lines: string[]) => fs.writeFileSync(file, `${lines.join('\n')}\n`);
      const base = ['POLL_INTERVAL_SEC=0.2', 'HTTP_PORT=0', 'LOG_FILE=none', 'DB_LOGGING=false'];
      write([...base, 'MAX_WORKERS=10']);
      const db = `pglite://${path.join(dir, 'db')}`;
      const s = startService(dir, { DATABASE_URL: db, GPU_SCALER_ENV_FILE: file });
      const cyclesAfter = (marker: string) => {
        const at = s.out().lastIndexOf(marker);
        return at < 0
          ? 0
          : (
              s
                .out()
                .slice(at)
                .match(/🔢 TASK COUNT/g) ?? []
            ).length;
      };
      try {
        await waitFor(() => s.out().includes('👑 Leading'), 'the service to lead', 60_000);

        write([...base, 'MAX_WORKERS=3']);
        s.child.kill('SIGHUP');
        await waitFor(() => s.out().includes('CONFIGURATION RELOADED from'), 'the reload', 30_000, { describe: s.out });
        expect(s.out()).toContain(
          `🔁 CONFIGURATION RELOADED from ${file}: MAX_WORKERS 10 -> 3; in force from the next cycle`,
        );
        await waitFor(() => cyclesAfter('CONFIGURATION RELOADED') >= 2, 'two cycles after the reload', 30_000);

        write([...base, 'MAX_WORKERS=-2']);
        s.child.kill('SIGHUP');
        await waitFor(() => s.out().includes('RELOAD REFUSED'), 'the refusal', 30_000, { describe: s.out });
        expect(s.out()).toContain(
          `⛔ CONFIGURATION RELOAD REFUSED from ${file}: MAX_WORKERS="-2" is not allowed: expected a number >= 0; the running configuration stays`,
        );

        write([
          ...base.map((l) => (l === 'HTTP_PORT=0' ? 'HTTP_PORT=9999' : l)),
          'MAX_WORKERS=3',
          `TASK_COUNT_KEY=${SECRET}`,
        ]);
        s.child.kill('SIGHUP');
        await waitFor(() => s.out().includes('HTTP_PORT cannot change'), 'the second refusal', 30_000, {
          describe: s.out,
        });
        await waitFor(() => cyclesAfter('HTTP_PORT cannot change') >= 2, 'two cycles after the refusal', 30_000);
        s.child.kill('SIGTERM');
        expect(await exited(s.child)).toEqual({ code: 0, signal: null });
      } finally {
        if (s.child.exitCode === null) s.child.kill('SIGKILL');
      }
      expect(s.out()).not.toContain(SECRET);

      const store = await openStore({ target: parseDatabaseUrl(db), registry: appRegistry, applicationName: 'test' });
      try {
        const reloads = await store.readStream(CONFIG_STREAM);
        expect(reloads.map((e) => e.type)).toEqual(['ConfigReloaded', 'ConfigReloadRefused', 'ConfigReloadRefused']);
        expect(reloads.map((e) => ('changes' in e.data ? e.data.changes : null))).toEqual([
          [{ key: 'MAX_WORKERS', from: '10', to: '3' }],
          [],
          [
            { key: 'TASK_COUNT_KEY', from: null, to: '***' },
            { key: 'HTTP_PORT', from: '0', to: '9999' },
          ],
        ]);
        expect(JSON.stringify(reloads)).not.toContain(SECRET);
        const decisions = (await store.readStream('controller')).filter((e) => e.type === 'ScalingDecided');
        const maxWorkers = decisions.map((e) => (e.type === 'ScalingDecided' ? e.data.settings.MAX_WORKERS : null));
        expect(maxWorkers[0]).toBe(10);
        expect(maxWorkers.at(-1)).toBe(3); // the refusals left the reloaded value in force
        expect(maxWorkers.indexOf(3)).toBeGreaterThan(0);
      } finally {
        await store.close();
      }
    }, 180_000);
  });
});
