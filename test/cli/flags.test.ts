import { Command, type Option } from 'commander';
import { CliError, type CliIo, EXIT } from '../../src/cli/context';
import { defineDemoCommand } from '../../src/cli/demo';
import { defineEventsCommand } from '../../src/cli/events';
import { defineExplainCommand } from '../../src/cli/explain';
import { collectPool, NOW_HELP, readClock, UNTIL_HELP, UTC_HELP, wholeNumber } from '../../src/cli/flags';
import { buildProgram } from '../../src/cli/main';
import { defineMigrateCommand } from '../../src/cli/migrate';
import { defineReplayCommand } from '../../src/cli/replay';
import { defineSqlCommand } from '../../src/cli/sql';
import { defineStartCommand } from '../../src/cli/start';
import { defineStatusCommand } from '../../src/cli/status';

/** The flags every command shares, read off the real program (nothing is run). */

const io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: {}, isTTY: false };
const program = buildProgram(io);
const options = (cmd: string): readonly Option[] => program.commands.find((c) => c.name() === cmd)?.options ?? [];
const flag = (cmd: string, long: string) => options(cmd).find((o) => o.long === long);

/** The commands that read a time the user types or show times. */
const TIMED = ['events', 'explain', 'status', 'replay'];

function usageError(fn: () => unknown): { exitCode: number; message: string } | 'no error' {
  try {
    fn();
    return 'no error';
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    return { exitCode: err.exitCode, message: err.message };
  }
}

describe('flags: one meaning per name', () => {
  test('every command that reads times has --now and --utc, with the same help', () => {
    for (const cmd of TIMED) {
      expect({ cmd, now: flag(cmd, '--now')?.description, utc: flag(cmd, '--utc')?.description }).toEqual({
        cmd,
        now: NOW_HELP,
        utc: UTC_HELP,
      });
    }
  });

  test('--until takes a position or a time in events as in replay', () => {
    for (const cmd of ['events', 'replay']) {
      expect({ cmd, flags: flag(cmd, '--until')?.flags }).toEqual({ cmd, flags: '--until <position|time>' });
      expect(flag(cmd, '--until')?.description.endsWith(UNTIL_HELP)).toBe(true);
    }
  });

  test('a flag of the same name has the same form (and help, where it means the same) everywhere', () => {
    const byName = new Map<string, Set<string>>();
    for (const c of program.commands) {
      for (const o of c.options) {
        if (!o.long) continue;
        const forms = byName.get(o.long) ?? new Set<string>();
        forms.add(o.flags);
        byName.set(o.long, forms);
      }
    }
    for (const [name, forms] of byName) expect({ name, forms: [...forms] }).toEqual({ name, forms: [[...forms][0]] });
    // --window: the same words and forms; only where the span sits differs
    for (const cmd of ['explain', 'status']) {
      expect(flag(cmd, '--window')?.description).toMatch(
        /^the span of time to show, .*: a duration: 90s, 2m, 1h or 7d$/,
      );
    }
  });

  test('--pool: one form and one check in the reading commands and the operator commands', () => {
    for (const cmd of ['status', 'explain', 'events', 'pause', 'set']) {
      const o = flag(cmd, '--pool');
      expect({ cmd, flags: o?.flags }).toEqual({ cmd, flags: '--pool <pool>' });
      expect(o?.description.endsWith("(repeatable; a pool name is 1 to 40 lowercase letters, digits and '-')")).toBe(
        true,
      );
    }
    expect(collectPool('video', collectPool('default', undefined))).toEqual(['default', 'video']);
    expect(collectPool('video', ['video'])).toEqual(['video']);
    expect(usageError(() => collectPool('GPU A', undefined))).toEqual({
      exitCode: EXIT.usage,
      message: "--pool GPU A is not allowed: a pool name is 1 to 40 lowercase letters, digits and '-'",
    });
  });

  test('whole-number flags: the same check and message in every command', () => {
    expect(wholeNumber('--limit', 0)('0')).toBe(0);
    expect(wholeNumber('--cycles', 1)(' 12 ')).toBe(12);
    for (const bad of ['ten', '-1', '1.5', '0', '99999999999999999999']) {
      expect(usageError(() => wholeNumber('--cycles', 1)(bad))).toEqual({
        exitCode: EXIT.usage,
        message: `--cycles ${bad} is not allowed: expected a whole number >= 1`,
      });
    }
  });

  test('--now and --utc read once: the given moment, or the clock', () => {
    const clock = new Date('2026-11-27T20:00:00Z');
    expect(readClock({}, clock)).toEqual({ utc: false, now: clock, nowGiven: false });
    expect(readClock({ utc: true, now: '18:00' }, clock)).toEqual({
      utc: true,
      now: new Date('2026-11-27T18:00:00Z'),
      nowGiven: true,
    });
  });

  test('every command can be defined on a program of a test with its seams (defineXCommand(program, io, deps))', () => {
    const defs: [string, (p: Command) => Command][] = [
      ['events', (p) => defineEventsCommand(p, io, {})],
      ['explain', (p) => defineExplainCommand(p, io, {})],
      ['status', (p) => defineStatusCommand(p, io, {})],
      ['replay', (p) => defineReplayCommand(p, io, {})],
      ['sql', (p) => defineSqlCommand(p, io, {})],
      ['migrate', (p) => defineMigrateCommand(p, io, {})],
      ['start', (p) => defineStartCommand(p, io, {})],
      ['demo', (p) => defineDemoCommand(p, io, {})],
    ];
    for (const [name, define] of defs) expect(define(new Command('t')).name()).toBe(name);
  });
});
