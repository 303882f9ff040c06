/**
 * The V8 old-space limit gpu-scaler's processes run with (`npm start` and the bin's shebang pass
 * `--max-old-space-size` with this value; a test checks they agree).
 *
 * Not because the code needs that much: a replay of a million events keeps about 25 MB live. But
 * without a limit V8 sizes its heap from the machine's memory (4 GB here) and lets garbage pile up
 * to well over 100 MB before it collects: a replay then peaked at 200-220 MB of RSS. With any
 * explicit limit V8 collects earlier: the same replay peaks at about 140 MB, at the same speed.
 * It also caps what a long-running service can ever grow to. NODE_OPTIONS cannot lower it (flags
 * on the command line win); run `node bin/gpu-scaler.js` with your own flag instead.
 */
export const NODE_MAX_OLD_SPACE_MB = 1024;
