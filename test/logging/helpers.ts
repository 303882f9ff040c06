import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

/** A stream that keeps everything written to it. */
export class Capture extends Writable {
  readonly chunks: string[] = [];

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk.toString());
    cb();
  }

  text(): string {
    return this.chunks.join('');
  }

  lines(): string[] {
    return this.text()
      .split('\n')
      .filter((l) => l.length > 0);
  }
}

/** A clock that moves only when told to. */
export function fakeClock(start = '2024-05-01T12:00:00.000Z'): { now: () => Date; advance(ms: number): void } {
  let t = Date.parse(start);
  return {
    now: () => new Date(t),
    advance(ms: number) {
      t += ms;
    },
  };
}

export const T0 = '2024-05-01T12:00:00.000Z';

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-logging-'));
}

export function readIfExists(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

/** Lets winston's pipe deliver what was just logged. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
