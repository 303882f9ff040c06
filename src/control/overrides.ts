import { createHash } from 'node:crypto';
import { ALL_POOLS, OPERATOR_STREAM, type OverrideInForce } from '../../events/operator';
import { type Config, checkSetting, isSetting, misspeltSettings } from '../config';
import { POLICY_SETTING_KEYS, policyNamed } from '../policies/index';
import { overrideText } from '../policies/render';
import type { EventStore, StoredEvent } from '../store/event-store';

/**
 * Operators' commands as overrides: a pure fold over the `operator` stream (which overrides are in
 * force at a moment, which ended and how, which ran out without their end recorded yet), and
 * applying the ones in force to a cycle's settings. The controller reads them at the start of each
 * cycle (readOverrides) and obeys them from that cycle on; `overrides`, `status` and the dashboard
 * list them.
 */

/** The pools there are (pools do not exist yet: one, `default`). */
export const POOLS = ['default'] as const;
export const DEFAULT_POOL = 'default';

/** The settings a `set` may change live: the caps, the fleet's timeouts and every policy's own settings. */
export const OVERRIDABLE_SETTINGS: readonly string[] = [
  'MODE',
  'MAX_WORKERS',
  'MAX_ACTIVE_GPUS',
  'MAX_HOURLY_COST_USD',
  'GPU_IDLE_TIMEOUT_SEC',
  'SPAWNING_TIMEOUT_SEC',
  'WORKER_MAX_LIFETIME_SEC',
  ...new Set(Object.values(POLICY_SETTING_KEYS).flat()),
];

/**
 * The settings the running service reads again every cycle (the controller's and the loop's own),
 * so a reload (SIGHUP, src/config-reload.ts) may change them. Every other one is read once at start
 * (the store, the HTTP endpoint, the provider, the task source, logging, the reactor, alerts):
 * changing it needs a restart.
 */
export const LIVE_SETTINGS: readonly string[] = [
  ...OVERRIDABLE_SETTINGS,
  'POLICY',
  'POLL_INTERVAL_SEC',
  'TASK_SOURCE_TIMEOUT_SEC',
  'TASK_COUNT_MAX',
  'RECONCILE_EVERY_CYCLES',
  'ANOMALY_RAPID_SCALE_UP_WORKERS',
  'ANOMALY_SPIKE_FACTOR',
  'ANOMALY_FROM_NOWHERE_TASKS',
  'ANOMALY_SLOW_SOURCE_SEC',
  'HEALTH_CHECK_EVERY_CYCLES',
  'HEALTH_SUMMARY_EVERY_CYCLES',
];

/** An override (pause, drain or set) with how it ended, if it did. */
export interface Override extends OverrideInForce {
  position: number;
  /** null: in force. */
  ended: OverrideEnd | null;
}

export type OverrideEnd =
  | { how: 'expired'; at: string; recorded: boolean }
  | { how: 'ended by a later command'; at: string; byCommand: string; text: string };

export interface OverridesView {
  /** In force at `now`, oldest first. */
  inForce: Override[];
  /** Ended, newest end first. */
  ended: Override[];
  /** Past their `until` with no OperatorOverrideEnded recorded: the leader records these. */
  unrecordedExpiries: Override[];
}

/** Whether a command for pool `by` reaches an override of pool `of` (`*` reaches and is reached by every pool). */
const reaches = (by: string, of: string) => by === ALL_POOLS || of === ALL_POOLS || by === of;

/**
 * Whether command `c` ends override `o` (of a pool it reaches): resume ends pauses and drains, unset
 * the sets of its key; a new pause, drain or set of the same pool (and key) replaces the earlier one.
 */
function endsOverride(
  c: Pick<OverrideInForce, 'pool' | 'key'> & { command: string },
  o: Pick<Override, 'command' | 'pool' | 'key'>,
): boolean {
  switch (c.command) {
    case 'resume':
      return o.command === 'pause' || o.command === 'drain';
    case 'unset':
      return o.command === 'set' && o.key === c.key;
    case 'set':
      // a later set of the key ends the earlier ones it reaches (a set on every pool ends each pool's)
      return o.command === 'set' && o.key === c.key;
    default:
      return o.command === c.command && o.pool === c.pool;
  }
}

/** Pure: the overrides of the operator stream's events as they stand at `now`. */
export function foldOverrides(events: readonly StoredEvent[], now: Date): OverridesView {
  const sorted = [...events].sort((a, b) => a.globalPosition - b.globalPosition);
  const all: Override[] = [];
  const expiryRecorded = new Map<string, string>();
  for (const e of sorted) if (e.type === 'OperatorOverrideEnded') expiryRecorded.set(e.data.commandId, e.data.at);
  const open = () => all.filter((o) => o.ended === null);
  const expire = (upTo: string) => {
    for (const o of open()) {
      if (o.until !== null && Date.parse(o.until) <= Date.parse(upTo)) {
        o.ended = {
          how: 'expired',
          at: expiryRecorded.get(o.commandId) ?? o.until,
          recorded: expiryRecorded.has(o.commandId),
        };
      }
    }
  };
  for (const e of sorted) {
    if (e.type !== 'OperatorCommandIssued') continue;
    const c = e.data;
    expire(c.at);
    const endedBy: OverrideEnd = {
      how: 'ended by a later command',
      at: c.at,
      byCommand: e.eventId,
      text: `${c.command}${c.key ? ` ${c.key}` : ''} by ${c.by}${c.reason ? `: ${c.reason}` : ''}`,
    };
    for (const o of open()) if (reaches(c.pool, o.pool) && endsOverride(c, o)) o.ended = endedBy;
    if (c.command === 'pause' || c.command === 'drain' || c.command === 'set') {
      all.push({
        commandId: e.eventId,
        position: e.globalPosition,
        command: c.command,
        pool: c.pool,
        key: c.key,
        value: c.value,
        by: c.by,
        at: c.at,
        reason: c.reason,
        forSec: c.forSec,
        until: c.until,
        ended: null,
      });
    }
  }
  expire(now.toISOString());
  const endAt = (o: Override) => Date.parse(o.ended?.at ?? '');
  return {
    inForce: all.filter((o) => o.ended === null),
    ended: all.filter((o) => o.ended !== null).sort((a, b) => endAt(b) - endAt(a)),
    unrecordedExpiries: all.filter((o) => o.ended?.how === 'expired' && !o.ended.recorded),
  };
}

/** The typed read: the operator stream folded at `now` (the in-memory store answers it too). */
export async function readOverrides(store: EventStore, now: Date): Promise<OverridesView> {
  return foldOverrides(await store.readStream(OPERATOR_STREAM), now);
}

/** The event id of an override's expiry: the same in every process, so it is recorded once. */
export function expiryEventId(commandId: string): string {
  const h = createHash('sha256').update(`gpu-scaler override expired ${commandId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Records the expiries the fold found unrecorded (idempotent by event id). */
export async function recordExpiries(
  store: EventStore,
  expired: readonly Override[],
  at: string,
  cycle: number | null,
): Promise<void> {
  if (!expired.length) return;
  await store.append(
    OPERATOR_STREAM,
    expired.map((o) => ({
      type: 'OperatorOverrideEnded' as const,
      eventId: expiryEventId(o.commandId),
      data: {
        at,
        commandId: o.commandId,
        command: o.command,
        pool: o.pool,
        key: o.key,
        how: 'expired' as const,
        cycle,
      },
      metadata: cycle === null ? {} : { cycle },
    })),
  );
}

/** What a cycle obeys: its settings with the overrides applied, and the pause and drain in force. */
export interface AppliedOverrides {
  config: Config;
  /** The overrides in force for the pool, as the decision records them. */
  inForce: OverrideInForce[];
  pause: OverrideInForce | null;
  drain: OverrideInForce | null;
  /** Overrides that could not be applied (a value this build no longer allows): said in the log. */
  problems: string[];
}

const recorded = (o: Override): OverrideInForce => {
  const { position: _p, ended: _e, ...rest } = o;
  return rest;
};

/**
 * Pure: the overrides in force for `pool` applied to the configuration. A later `set` of a key wins
 * over an earlier one; a value is read by the setting's own schema. GPU_IDLE_TIMEOUT_SEC set by an
 * operator also sets the policy's own idle setting when that is not set too (the rule loadConfig
 * applies). Cross-setting rules are not applied: `set MAX_ACTIVE_GPUS=0` stops spawning whatever
 * MIN_ACTIVE_GPUS says (the caps cut after the floors).
 */
export function applyOverrides(base: Config, overrides: readonly Override[], pool = DEFAULT_POOL): AppliedOverrides {
  const mine = overrides.filter((o) => o.ended === null && (o.pool === pool || o.pool === ALL_POOLS));
  const config: Config = { ...base };
  const problems: string[] = [];
  const setKeys = new Set<string>();
  for (const o of mine) {
    if (o.command !== 'set' || o.key === null || o.value === null) continue;
    if (!isSetting(o.key)) {
      problems.push(`${overrideText(o)}: ${o.key} is not a setting of this build; ignored`);
      continue;
    }
    const res = checkSetting(o.key, o.value);
    if (!res.ok) {
      problems.push(`${overrideText(o)}: ${res.problem}; ignored`);
      continue;
    }
    Object.assign(config, { [o.key]: res.value });
    setKeys.add(o.key);
  }
  const idle = policyNamed(base.POLICY).idleSetting;
  if (idle && setKeys.has('GPU_IDLE_TIMEOUT_SEC') && !setKeys.has(idle)) {
    Object.assign(config, { [idle]: config.GPU_IDLE_TIMEOUT_SEC });
  }
  const last = (kind: 'pause' | 'drain') => {
    const found = mine.filter((o) => o.command === kind);
    return found.length ? recorded(found[found.length - 1]) : null;
  };
  return {
    config,
    inForce: mine.map(recorded),
    pause: last('pause'),
    drain: last('drain'),
    problems,
  };
}

/**
 * An operator's `set KEY=VALUE` checked before anything is appended: the key must be a setting a
 * command may change, the value what the setting allows (the configuration's own schema and
 * message). Returns the problems (none: it may be appended).
 */
export function checkOverride(key: string, value: string): string[] {
  if (!isSetting(key)) {
    const hint = misspeltSettings({ [key]: value }, OVERRIDABLE_SETTINGS)[0];
    const mean = hint ? /did you mean (\S+)\?/.exec(hint)?.[1] : undefined;
    return [
      `${key} is not a setting of ours${mean ? `: did you mean ${mean}?` : ''} (a command sets one of ${OVERRIDABLE_SETTINGS.join(', ')})`,
    ];
  }
  if (!OVERRIDABLE_SETTINGS.includes(key)) {
    return [
      `${key} cannot be set by a command: a command sets one of ${OVERRIDABLE_SETTINGS.join(', ')}; ${
        LIVE_SETTINGS.includes(key)
          ? `change ${key} in the configuration and send SIGHUP (a reload takes it from the next cycle)`
          : `change ${key} in the configuration and restart the service (it is read once at start: a reload cannot change it)`
      }`,
    ];
  }
  const res = checkSetting(key, value);
  return res.ok ? [] : [res.problem];
}

/**
 * A policy's setting set for a pool whose policy (its last decision's) is another one would change
 * nothing: the problem, naming both; null when it is a setting of that policy, not a policy's, or the
 * policy is not known yet.
 */
export function policySettingProblem(key: string, policy: string | null): string | null {
  if (policy === null || !Object.hasOwn(POLICY_SETTING_KEYS, policy)) return null;
  const owners = Object.entries(POLICY_SETTING_KEYS)
    .filter(([, keys]) => keys.includes(key))
    .map(([name]) => name);
  if (!owners.length || owners.includes(policy)) return null;
  return `${key} is a setting of POLICY=${owners.join(', POLICY=')}, but the pool's policy is ${policy} (its last decision): it would change nothing; the settings of ${policy} are ${POLICY_SETTING_KEYS[policy].join(', ')}`;
}

/** `--pool P` (repeatable) or `--all` as the pool a command's event carries; the problem when a pool is unknown. */
export function commandPool(pools: readonly string[], all: boolean): { pool: string } | { problem: string } {
  if (all && pools.length)
    return { problem: '--all and --pool are exclusive: name pools with --pool, or every pool with --all' };
  if (all) return { pool: ALL_POOLS };
  if (!pools.length) return { problem: 'name the pool: --pool default (the only pool there is), or --all' };
  const unknown = pools.filter((p) => !(POOLS as readonly string[]).includes(p));
  if (unknown.length) {
    return {
      problem: `${unknown.map((p) => `--pool ${p}`).join(', ')}: no such pool; the pools are ${POOLS.join(', ')}`,
    };
  }
  return { pool: pools[0] };
}
