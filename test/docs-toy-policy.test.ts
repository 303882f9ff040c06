import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Policy, PolicyView } from '../src/policies/policy';
import { policyMath } from '../src/policies/render';
import { parseMarkdown, readDoc, root } from './helpers/docs';

// CONTRIBUTING.md's toy policy, as printed there, is a policy the seam accepts: its settings parse
// with their defaults, and its decision is one the renderer puts into words. (The snippet's imports
// are pointed at src/policies/ from a temporary file; `npx tsc` is what CONTRIBUTING tells the
// reader to run on it in place.)

const snippet = parseMarkdown(readDoc('CONTRIBUTING.md')).fences.find(
  (f) => f.info === 'ts' && f.body.startsWith('// src/policies/fixed.ts'),
);

const view: PolicyView = {
  now: new Date('2026-12-06T00:00:00Z'),
  cycle: 7,
  queued: 5,
  active: 1,
  workers: { total: 0, active: 0, spawning: 0, busy: 0, idle: 0 },
  gpusPerWorker: 1,
  recent: [],
};

test('the toy policy of CONTRIBUTING.md loads, parses its settings and decides', () => {
  expect(snippet).toBeDefined();
  const src = path.join(root, 'src');
  const code = (snippet?.body ?? '')
    .replace("from 'zod'", `from '${require.resolve('zod')}'`)
    .replace("from './policy'", `from '${path.join(src, 'policies/policy')}'`)
    .replace("from '../settings'", `from '${path.join(src, 'settings')}'`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gs-toy-'));
  const file = path.join(dir, 'fixed.ts');
  fs.writeFileSync(file, code);
  try {
    const mod = require(file) as Record<string, Policy>;
    const policy = Object.values(mod).find((v) => typeof v === 'object' && v !== null && 'decide' in v);
    expect(policy?.name).toBe('fixed');
    const settings = policy?.settings.parse({}) as Record<string, unknown>;
    expect(settings).toEqual({ FIXED_WORKERS: 2 });
    expect(policy?.lookbackSec(settings)).toBe(0);
    const d = policy?.decide(view, settings);
    expect(d?.desired).toBe(2);
    expect(policyMath({ terms: d?.terms ?? [], combine: d?.combine ?? '' }, d?.desired ?? 0)).toBe('FIXED_WORKERS=2');
    const three = policy?.settings.parse({ FIXED_WORKERS: '3' }) as Record<string, unknown>;
    expect(policy?.decide(view, three).desired).toBe(3);
    expect(() => policy?.settings.parse({ FIXED_WORKERS: '-1' })).toThrow();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
