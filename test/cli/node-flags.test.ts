import fs from 'node:fs';
import path from 'node:path';
import { NODE_MAX_OLD_SPACE_MB } from '../../src/util/node-flags';

const root = path.join(__dirname, '..', '..');
const flag = `--max-old-space-size=${NODE_MAX_OLD_SPACE_MB}`;

describe('node flags of gpu-scaler processes', () => {
  test('npm start and the bin run node with the heap limit of src/util/node-flags.ts', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toBe(`node ${flag} bin/gpu-scaler.js start`);
    const shebang = fs.readFileSync(path.join(root, 'bin', 'gpu-scaler.js'), 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${flag}`);
    expect(NODE_MAX_OLD_SPACE_MB).toBeGreaterThanOrEqual(256);
  });
});
