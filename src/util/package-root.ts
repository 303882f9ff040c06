import fs from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

/** The directory of gpu-scaler's package.json, from source (ts-jest) or from dist/. */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'gpu-scaler') {
      cached = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find gpu-scaler's package.json above ${__dirname}`);
    dir = parent;
  }
}
