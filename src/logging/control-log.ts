import type { ControlLog } from '../control/log';
import type { Logging } from './index';

/** The control loop's log on top of the four-destination logging. */
export function controlLog(logging: Logging): ControlLog {
  return {
    log(level, message, meta = {}) {
      try {
        logging.logger.log(level, message, meta);
      } catch {
        // a broken logger must not stop the loop; the stderr mirror still speaks
      }
    },
    mirror: (line) => logging.mirror(line),
  };
}

/**
 * A pool's control log when a process runs several: every line starts with `[<pool>] ` (the
 * mirror's too) and carries the pool in its metadata; the destinations are the process's.
 */
export function poolLog(log: ControlLog, pool: string): ControlLog {
  return {
    log: (level, message, meta = {}) => log.log(level, `[${pool}] ${message}`, { ...meta, pool }),
    mirror: (line) => log.mirror(`[${pool}] ${line}`),
  };
}
