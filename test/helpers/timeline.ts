import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeClock } from '../../src/clock';
import { runOperatorTimeline, type ScenarioResult } from '../../src/demo/timeline';
import { controlLog } from '../../src/logging/control-log';
import { createLogging } from '../../src/logging/index';
import type { EventStore } from '../../src/store/event-store';
import { Capture } from './harness';

export const TIMELINE_DAY = '2026-11-27';

/**
 * Fills a store with the operators' four scenarios (the same timeline `gpu-scaler demo` runs),
 * logging to captured streams. The spurious 0 -> 51 jump is at 18:25:42 UTC on TIMELINE_DAY.
 */
export async function fillWithTimeline(
  store: EventStore,
): Promise<{ results: ScenarioResult[]; stdout: Capture; stderr: Capture }> {
  const clock = new FakeClock(`${TIMELINE_DAY}T18:00:00.000Z`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-timeline-'));
  const stdout = new Capture();
  const stderr = new Capture();
  try {
    const results = await runOperatorTimeline({
      store,
      clock,
      makeLogging: async (s) => {
        const logging = await createLogging(
          {
            stdout,
            stderr,
            logFile: null,
            dbErrorsFile: path.join(dir, 'db_logging_errors.log'),
            now: () => clock.now(),
            flushMs: 60_000,
            sourceId: 'timeline',
          },
          s.db,
        );
        return { log: controlLog(logging), dbLogging: () => logging.dbStats(), close: () => logging.close() };
      },
    });
    return { results, stdout, stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
