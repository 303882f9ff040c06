import type { Redactor } from './redact';

const guarded = new WeakSet<object>();

/**
 * Makes write errors on `stream` (EPIPE when the reader went away, a closed descriptor) harmless:
 * a Writable with no 'error' listener turns them into an uncaught exception. Idempotent.
 */
export function ignoreStreamErrors(stream: NodeJS.WritableStream): void {
  if (guarded.has(stream)) return;
  guarded.add(stream);
  try {
    stream.on('error', () => {});
  } catch {
    // a stream that cannot take listeners cannot emit errors either
  }
}

export type Mirror = (line: string) => void;

/**
 * The redundant plain line on stderr, written straight to the stream (not through winston) so it
 * survives a broken logger: `<ISO timestamp> <line>\n`. Never throws.
 */
export function createMirror(
  stream: NodeJS.WritableStream,
  now: () => Date,
  redact: Redactor,
  onFailure: (err: unknown) => void = () => {},
): Mirror {
  ignoreStreamErrors(stream);
  return (line: string) => {
    try {
      stream.write(`${now().toISOString()} ${redact(String(line))}\n`, (err) => {
        if (err) onFailure(err);
      });
    } catch (err) {
      // the mirror must never take the controller down
      onFailure(err);
    }
  };
}
