import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { type Command, Option } from 'commander';
import { DEFAULT_POOL, isEvent, Streams } from '../../events/index';
import { OPERATOR_STREAM, type OperatorCommandKind } from '../../events/operator';
import {
  checkOverride,
  commandPool,
  foldOverrides,
  type Override,
  POOLS,
  policySettingProblem,
} from '../control/overrides';
import { durationWords, overrideLine } from '../policies/render';
import { DataDirLockedError } from '../store/dir-lock';
import type { EventStore } from '../store/event-store';
import { CliError, type CliIo, EXIT, withStore, writeJson } from './context';
import { DURATION_FORMS, jsonOption, nowOption, parseNow, poolOption } from './flags';
import { parseDuration } from './time';

/**
 * The operators' commands: `pause`, `resume`, `drain`, `set KEY=VALUE`, `unset KEY`, each appended
 * as one OperatorCommandIssued event (who, why, when, for how long, what) that the leader obeys from
 * its next cycle; and `overrides`, the ones in force and recent ones. Everything is checked before
 * anything is appended: a bad key, value or pool is bad usage (exit 2) and appends nothing.
 */

interface CommandFlags {
  pool?: string[];
  all?: boolean;
  reason?: string;
  by?: string;
  for?: string;
  now?: string;
}

/** A command as appended. */
export interface OperatorCommandInput {
  command: OperatorCommandKind;
  pool: string;
  by: string;
  reason: string | null;
  key?: string | null;
  value?: string | null;
  forSec?: number | null;
}

/** `user@host` of this machine. */
export function whoAmI(env: CliIo['env']): string {
  let user = env.USER ?? env.LOGNAME ?? 'unknown';
  try {
    user = os.userInfo().username || user;
  } catch {
    /* no passwd entry (a container): the environment's USER */
  }
  return `${user}@${os.hostname()}`;
}

/** Appends one command at `now`; returns its event id. */
export async function issueCommand(store: EventStore, c: OperatorCommandInput, now: Date): Promise<string> {
  const forSec = c.forSec ?? null;
  const data = {
    at: now.toISOString(),
    by: c.by,
    reason: c.reason,
    command: c.command,
    pool: c.pool,
    key: c.key ?? null,
    value: c.value ?? null,
    forSec,
    until: forSec === null ? null : new Date(now.getTime() + forSec * 1000).toISOString(),
  };
  const eventId = randomUUID();
  await store.append(OPERATOR_STREAM, [{ type: 'OperatorCommandIssued', eventId, data }]);
  return eventId;
}

const usage = (message: string) => new CliError(message, EXIT.usage);

const poolOptions = (cmd: Command) =>
  cmd
    .addOption(poolOption(`the pool the command applies to; the pools are: ${POOLS.join(', ')}`))
    .option('--all', 'every pool (the emergency stop: pause --all)')
    .option('--by <who>', 'who gives the command (default: user@host of this machine)')
    .addOption(nowOption().hideHelp());

/** Reads the flags every command shares; throws bad usage (nothing appended) on any problem. */
function readCommon(
  io: CliIo,
  kind: OperatorCommandKind,
  flags: CommandFlags,
  opts: { reasonRequired: boolean; takesFor: boolean },
): { pool: string; by: string; reason: string | null; forSec: number | null; now: Date } {
  const pool = commandPool([...new Set(flags.pool ?? [])], flags.all === true);
  if ('problem' in pool) throw usage(`${kind}: ${pool.problem}`);
  const reason = flags.reason?.trim() ? flags.reason.trim() : null;
  if (opts.reasonRequired && reason === null) {
    throw usage(`${kind} needs --reason "...": why, for whoever reads the record later (an incident number will do)`);
  }
  let forSec: number | null = null;
  if (flags.for !== undefined) {
    if (!opts.takesFor) throw usage(`${kind} takes no --for`);
    forSec = parseDuration(flags.for, '--for') / 1000;
    if (!(forSec > 0)) throw usage(`--for ${flags.for} is not allowed: expected ${DURATION_FORMS} (more than 0)`);
  }
  const by = flags.by?.trim() ? flags.by.trim() : whoAmI(io.env);
  return { pool: pool.pool, by, reason, forSec, now: parseNow(flags.now, true) ?? new Date() };
}

/** The policy of the leader's last decision (null: none recorded yet). */
async function policyInUse(store: EventStore): Promise<string | null> {
  const tail = await store.readStreamTail(Streams.controller(DEFAULT_POOL), 20);
  const last = tail.filter(isEvent('ScalingDecided')).at(-1);
  return last ? last.data.policy.name : null;
}

/** Opens the store and appends; the embedded store held by a running service is refused, naming why. */
async function append(io: CliIo, c: OperatorCommandInput, now: Date): Promise<void> {
  try {
    await withStore(io, async (store) => {
      if (c.command === 'set' && c.key) {
        const problem = policySettingProblem(c.key, await policyInUse(store));
        if (problem) throw usage(`set refused, nothing recorded:\n  - ${problem}`);
      }
      await issueCommand(store, c, now);
    });
  } catch (err) {
    const cause = err instanceof Error ? err.cause : undefined;
    if (cause instanceof DataDirLockedError) {
      throw new CliError(
        `${c.command} refused: the service (process ${cause.pid}) holds the embedded store ${cause.dataDir}, which is one process at a time, so nothing was recorded. ` +
          'Run the service on a PostgreSQL server (DATABASE_URL=postgres://...) to give commands while it runs, or stop it, give the command, and start it again (it obeys the command from its first cycle).',
        EXIT.failure,
      );
    }
    throw err;
  }
  const pool = c.pool === '*' ? 'every pool' : `pool ${c.pool}`;
  const what = c.command === 'set' ? `set ${c.key}=${c.value}` : c.command === 'unset' ? `unset ${c.key}` : c.command;
  const span = c.forSec ? ` for ${durationWords(c.forSec)}` : '';
  io.stdout.write(
    `recorded: ${what} on ${pool} by ${c.by}${span}${c.reason ? `: ${c.reason}` : ''}; the leader obeys it from its next cycle\n`,
  );
}

export function registerOperator(program: Command, io: CliIo): void {
  const simple = (kind: 'pause' | 'resume' | 'drain', description: string, reasonRequired: boolean) =>
    poolOptions(
      program
        .command(kind)
        .description(description)
        .option('--reason <text>', `why${reasonRequired ? ' (required)' : ''}`),
    )
      .addOption(
        new Option('--for <duration>', `how long it holds: ${DURATION_FORMS} (default: until resume)`).hideHelp(
          kind === 'resume',
        ),
      )
      .action(async (flags: CommandFlags) => {
        const c = readCommon(io, kind, flags, { reasonRequired, takesFor: kind !== 'resume' });
        await append(io, { command: kind, pool: c.pool, by: c.by, reason: c.reason, forSec: c.forSec }, c.now);
      });
  simple(
    'pause',
    'stop every spawn in the pool from the next cycle (scale-down goes on); pause --all is the emergency stop',
    true,
  );
  simple('resume', 'end a pause or a drain', false);
  simple('drain', 'stop spawning and remove workers as they go idle, until resume', false);

  poolOptions(
    program
      .command('set')
      .description('override a setting (a cap, a timeout or a policy setting) from the next cycle, without a restart')
      .argument('<KEY=VALUE>', 'the setting and its value, e.g. MAX_ACTIVE_GPUS=2')
      .option('--reason <text>', 'why (required)')
      .option('--for <duration>', `how long it holds: ${DURATION_FORMS} (default: until unset or a later set)`),
  ).action(async (assignment: string, flags: CommandFlags) => {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw usage(`set ${assignment}: expected KEY=VALUE, e.g. set MAX_ACTIVE_GPUS=2`);
    const key = assignment.slice(0, eq).trim();
    const value = assignment.slice(eq + 1).trim();
    const problems =
      value === ''
        ? [`${key}= has no value: to go back to the configured value, use unset ${key}`]
        : checkOverride(key, value);
    if (problems.length) throw usage(`set refused, nothing recorded:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    const c = readCommon(io, 'set', flags, { reasonRequired: true, takesFor: true });
    await append(io, { command: 'set', pool: c.pool, by: c.by, reason: c.reason, key, value, forSec: c.forSec }, c.now);
  });

  // Shadow and active are MODE set by a command: recorded like any set, obeyed from the next cycle.
  const mode = (kind: 'activate' | 'shadow', value: 'active' | 'shadow', description: string) =>
    poolOptions(program.command(kind).description(description).option('--reason <text>', 'why (required)')).action(
      async (flags: CommandFlags) => {
        const c = readCommon(io, 'set', flags, { reasonRequired: true, takesFor: false });
        await append(
          io,
          { command: 'set', pool: c.pool, by: c.by, reason: c.reason, key: 'MODE', value, forSec: null },
          c.now,
        );
      },
    );
  mode(
    'activate',
    'active',
    'act on decisions from the next cycle (set MODE=active): the first active cycle decides from the live fleet as it is',
  );
  mode(
    'shadow',
    'shadow',
    'decide and record intended actions only, from the next cycle (set MODE=shadow): no pod is created or deleted',
  );

  poolOptions(
    program
      .command('unset')
      .description("end a set override: the setting goes back to the configuration's value")
      .argument('<KEY>', 'the setting')
      .option('--reason <text>', 'why'),
  ).action(async (key: string, flags: CommandFlags) => {
    const problems = checkOverride(key, '0').filter((p) => !p.includes('is not allowed'));
    if (problems.length) throw usage(`unset refused, nothing recorded:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    const c = readCommon(io, 'unset', flags, { reasonRequired: false, takesFor: false });
    await append(io, { command: 'unset', pool: c.pool, by: c.by, reason: c.reason, key }, c.now);
  });

  program
    .command('overrides')
    .description("the operators' overrides in force (pause, drain, set) and the ones that ended recently")
    .option('--recent <n>', 'how many ended ones to show', '10')
    .addOption(jsonOption('the overrides as JSON'))
    .addOption(nowOption())
    .action(async (flags: { recent: string; json?: boolean; now?: string }) => {
      const recent = Number(flags.recent);
      if (!Number.isInteger(recent) || recent < 0)
        throw usage(`--recent ${flags.recent}: expected a whole number >= 0`);
      const now = parseNow(flags.now, true) ?? new Date();
      await withStore(io, async (store) => {
        const view = foldOverrides(await store.readStream(OPERATOR_STREAM), now);
        const ended = view.ended.slice(0, recent);
        if (flags.json) {
          writeJson(io, { inForce: view.inForce, ended });
          return;
        }
        io.stdout.write(overridesText(view.inForce, ended).join('\n'));
        io.stdout.write('\n');
      });
    });
}

/** The overrides as `overrides` and `status` print them. */
export function overridesText(inForce: readonly Override[], ended: readonly Override[]): string[] {
  const lines = [`In force (${inForce.length}):`];
  lines.push(...(inForce.length ? inForce.map((o) => `  ${overrideLine(o)}`) : ['  none: the configuration holds']));
  if (ended.length) {
    lines.push('Ended recently:');
    lines.push(
      ...ended.map((o) =>
        o.ended
          ? `  ${overrideLine(o, { how: o.ended.how === 'expired' ? 'expired' : o.ended.text, at: o.ended.at })}`
          : '',
      ),
    );
  }
  return lines;
}
