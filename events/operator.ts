import { z } from 'zod';
import { cycleNo, isoTime, PoolName, poolField } from './common';
import { defineEvent } from './define';

/** The stream operator commands and the ends of their overrides are appended to. */
export const OPERATOR_STREAM = 'operator';
/** The stream configuration reloads (SIGHUP) are recorded on. */
export const CONFIG_STREAM = 'config';

/** What an operator can command (src/cli/operator.ts); `unset` ends an earlier `set` of the same key. */
export const OperatorCommandKind = z.enum(['pause', 'resume', 'drain', 'set', 'unset']);
export type OperatorCommandKind = z.infer<typeof OperatorCommandKind>;

/** `pool` of a command given `--all`: every pool, those made later too. */
export const ALL_POOLS = '*';
/** The pools a command reaches: one pool's name, or `*` (every pool). */
export const CommandPool = z.union([PoolName, z.literal(ALL_POOLS)]);

/**
 * An operator's command, appended by `gpu-scaler pause|resume|drain|set|unset` from any machine:
 * who, why, when, for how long, and what. The leader reads the commands in force at the start of
 * each cycle and obeys them from that cycle on (src/control/overrides.ts folds them).
 */
export const OperatorCommandIssued = defineEvent({
  type: 'OperatorCommandIssued',
  schemaVersion: 1,
  schema: z.object({
    at: isoTime,
    /** Who: `user@host` of the machine the command ran on, or what `--by` said. */
    by: z.string().min(1),
    /** Why (`--reason`): required for pause and set. */
    reason: z.string().nullable(),
    command: OperatorCommandKind,
    /** The pool it applies to (`default` until pools exist), or `*`: every pool (`--all`). */
    pool: CommandPool,
    /** set/unset: the setting (MAX_ACTIVE_GPUS, ...); null otherwise. */
    key: z.string().nullable().default(null),
    /** set: the value as typed, validated by the setting's own schema; null otherwise. */
    value: z.string().nullable().default(null),
    /** `--for`: how long it holds, seconds; null: until a later command ends it. */
    forSec: z.number().positive().nullable().default(null),
    /** When it ends by itself (at + forSec); null: until a later command ends it. */
    until: isoTime.nullable().default(null),
  }),
});

/**
 * An override's time is up: recorded by the leader at the first cycle past its `until` (once: its
 * event id is derived from the command's). Ends by a later command (resume, a new set of the same
 * key, unset) are read from the commands themselves.
 */
export const OperatorOverrideEnded = defineEvent({
  type: 'OperatorOverrideEnded',
  schemaVersion: 1,
  schema: z.object({
    at: isoTime,
    /** The event id of the command whose override ended. */
    commandId: z.string(),
    command: OperatorCommandKind,
    /** The command's pool (or `*`). */
    pool: CommandPool,
    key: z.string().nullable(),
    how: z.enum(['expired']),
    /** The cycle that noticed it. */
    cycle: cycleNo.nullable(),
  }),
});

/** One setting's change, as a reload records it (a secret's values are never recorded: `***`). */
export const SettingChange = z.object({
  key: z.string(),
  /** The value before and after, as the configuration shows it; null: unset. */
  from: z.string().nullable(),
  to: z.string().nullable(),
});
export type SettingChange = z.infer<typeof SettingChange>;

const reloadBase = {
  at: isoTime,
  /** The pool whose configuration was re-read (`default` until pools exist). */
  pool: poolField,
  /** The environment file re-read (null: none, only the process's environment). */
  file: z.string().nullable(),
  /** The process that reloaded: `host:pid`. */
  process: z.string(),
  changes: z.array(SettingChange),
};

/** SIGHUP: the configuration was re-read, validated whole, and acts from the next cycle. */
export const ConfigReloaded = defineEvent({
  type: 'ConfigReloaded',
  schemaVersion: 1,
  schema: z.object(reloadBase),
});

/** SIGHUP: the re-read configuration was refused (invalid, or a setting that cannot change live); the running one stays. */
export const ConfigReloadRefused = defineEvent({
  type: 'ConfigReloadRefused',
  schemaVersion: 1,
  schema: z.object({ ...reloadBase, problems: z.array(z.string()).min(1) }),
});

/** An operator's override as a decision records it: the command in force that cycle (pause, drain or set). */
export const OverrideInForce = z.object({
  commandId: z.string(),
  command: z.enum(['pause', 'drain', 'set']),
  pool: CommandPool,
  key: z.string().nullable(),
  value: z.string().nullable(),
  by: z.string(),
  at: isoTime,
  reason: z.string().nullable(),
  forSec: z.number().positive().nullable(),
  until: isoTime.nullable(),
});
export type OverrideInForce = z.infer<typeof OverrideInForce>;
