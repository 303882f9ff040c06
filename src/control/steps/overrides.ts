import type { Clock } from '../../clock';
import type { Config } from '../../config';
import { overrideText } from '../../policies/render';
import type { EventStore } from '../../store/event-store';
import { type ControlLog, fact } from '../log';
import { applyOverrides, readOverrides, recordExpiries } from '../overrides';
import type { OperatorInput } from './decide';
import type { CycleMemory } from './memory';

export interface OverridesContext {
  store: EventStore;
  clock: Clock;
  log: ControlLog;
  /** The pool obeying: commands for it and for every pool (`*`) apply. */
  pool: string;
}

/**
 * The operators' commands in force now (read from the record: the leader obeys a command from its
 * next cycle), applied to `base`, this cycle's configuration; expiries recorded. Only the settings a
 * cycle reads each time are taken from the result (see settle: the caps, timeouts, policy, source
 * limits, anomaly thresholds, health cadence; and MODE).
 */
export async function obeyOverrides(
  ctx: OverridesContext,
  memory: Pick<CycleMemory, 'obeyed'>,
  base: Config,
  cycle: number,
): Promise<{ config: Config; operator: OperatorInput }> {
  const { store, clock, log } = ctx;
  const now = clock.now();
  const view = await readOverrides(store, now);
  if (view.unrecordedExpiries.length) {
    await recordExpiries(store, view.unrecordedExpiries, now.toISOString(), cycle);
    for (const o of view.unrecordedExpiries) {
      fact(
        log,
        'notice',
        `🎛️ OVERRIDE EXPIRED: ${o.command}${o.key ? ` ${o.key}=${o.value}` : ''} (${o.by}) ended at ${o.until}`,
        { cycle },
      );
    }
  }
  const applied = applyOverrides(base, view.inForce, ctx.pool);
  for (const p of applied.problems) log.log('warning', `🎛️ ${p}`, { cycle });
  const ids = applied.inForce.map((o) => o.commandId).join(',');
  if (ids !== memory.obeyed) {
    const line = applied.inForce.length
      ? `🎛️ OBEYING: ${applied.inForce.map(overrideText).join('; ')}`
      : '🎛️ No operator override in force: the configuration holds';
    fact(log, 'notice', line, { cycle });
  }
  memory.obeyed = ids;
  return { config: applied.config, operator: applied };
}
