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
