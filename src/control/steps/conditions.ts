import {
  type ConditionChange,
  type ConditionInput,
  type ConditionState,
  conditionChangeText,
  isHealthy,
  nextConditions,
} from '../conditions';
import { type ControlLog, fact } from '../log';
import type { CycleMemory } from './memory';
import type { ConditionEvent } from './record';

/** A cycle's conditions, not yet recorded: they stand once its batch is (see conditionsRecorded). */
export interface PendingConditions {
  conditions: ConditionState[];
  /** The events of those that changed, recorded in the cycle's batch. */
  events: ConditionEvent[];
  changes: ConditionChange[];
}

/** Pure: the conditions after this cycle, from those the last one left, and the events of those that changed. */
export function conditionsAfter(
  memory: Pick<CycleMemory, 'conditions'>,
  cycle: number,
  input: ConditionInput,
): PendingConditions {
  const { conditions, changes } = nextConditions(memory.conditions, input);
  const events = changes.map(
    (ch): ConditionEvent => ({
      type: 'ConditionChanged',
      data: { cycle, at: input.at, ...ch.condition, previous: ch.previous },
    }),
  );
  return { conditions, events, changes };
}

/** Once the cycle's batch is recorded: the conditions stand, and each change is said. */
export function conditionsRecorded(
  log: ControlLog,
  memory: Pick<CycleMemory, 'conditions'>,
  cycle: number,
  pending: PendingConditions,
): void {
  memory.conditions = new Map(pending.conditions.map((c) => [c.type, c]));
  for (const ch of pending.changes) {
    const c = ch.condition;
    const healthy = isHealthy(c);
    const line = `🚦 CONDITION ${conditionChangeText(ch)}`;
    const meta = { cycle, condition: c.type, status: c.status, reason: c.reason };
    // the first record of a healthy condition (a new store) is no news: logged, not mirrored
    if (healthy && ch.previous === null) log.log('info', line, meta);
    else
      fact(
        log,
        healthy || c.type === 'ScalingLimited' ? 'notice' : 'crit',
        line,
        meta,
        `CONDITION cycle=${cycle} ${c.type}=${c.status} reason=${c.reason}`,
      );
  }
}
