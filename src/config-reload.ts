import os from 'node:os';
import { CONFIG_STREAM, type SettingChange } from '../events/operator';
import { type Config, ConfigError, ConfigSchema, isSecretSetting, isSetting, secretsOf } from './config';
import type { Configuration } from './config-file';
import { LIVE_SETTINGS } from './control/overrides';
import { makeRedactor } from './logging/redact';
import type { EventStore } from './store/event-store';

/**
 * Reload without restart (SIGHUP): the configuration is read again (reloadConfig: the environment
 * file, and whatever else a deployment configures from), validated whole by loadConfig, compared
 * with the running one, and either taken (from the next cycle) or refused; both are recorded on the
 * `config` stream with the keys that changed, their old and new values, secrets never shown.
 */

const shown = (key: string, v: unknown): string | null =>
  v === undefined || v === null ? null : isSecretSetting(key) ? '***' : String(v);

/** The settings whose values differ, old and new as the configuration shows them; secrets `***`, and redacted wherever they appear. */
export function configChanges(from: Config, to: Config): SettingChange[] {
  const redact = makeRedactor([...new Set([...secretsOf(from), ...secretsOf(to)])]);
  const keys = Object.keys(ConfigSchema.shape).filter(isSetting);
  const changes: SettingChange[] = [];
  for (const key of keys) {
    const a = from[key];
    const b = to[key];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (isSecretSetting(key)) {
      // a secret that changed: said, never shown (set, changed, unset)
      changes.push({
        key,
        from: a === undefined ? null : '***',
        to: b === undefined ? null : a === undefined ? '***' : '*** (changed)',
      });
      continue;
    }
    const f = shown(key, a);
    const t = shown(key, b);
    changes.push({ key, from: f === null ? null : redact(f), to: t === null ? null : redact(t) });
  }
  return changes;
}

export type ReloadOutcome =
  | { ok: true; config: Config; changes: SettingChange[] }
  | { ok: false; problems: string[]; changes: SettingChange[] };

/**
 * Pure after reloadConfig: the new configuration, or why it is refused: invalid (the
 * configuration's own messages), or a change to a setting that cannot change live (named).
 */
export function judgeReload(current: Config, reloadConfig: () => Config): ReloadOutcome {
  let next: Config;
  try {
    next = reloadConfig();
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
    return { ok: false, problems, changes: [] };
  }
  const changes = configChanges(current, next);
  const fixed = changes.filter((c) => !LIVE_SETTINGS.includes(c.key)).map((c) => c.key);
  if (fixed.length) {
    return {
      ok: false,
      changes,
      problems: [
        `${fixed.join(', ')} cannot change while the service runs (${fixed.length === 1 ? 'it is' : 'they are'} read once at start): restart it to apply ${fixed.length === 1 ? 'that change' : 'those changes'}, or undo ${fixed.length === 1 ? 'it' : 'them'} and send SIGHUP again`,
      ],
    };
  }
  return { ok: true, config: next, changes };
}

/** Judges a reload and records it (ConfigReloaded or ConfigReloadRefused); returns the outcome. */
export async function reloadAndRecord(opts: {
  store: EventStore;
  current: Config;
  reloadConfig: () => Config;
  file: string | null;
  now: Date;
}): Promise<ReloadOutcome> {
  const outcome = judgeReload(opts.current, opts.reloadConfig);
  const base = {
    at: opts.now.toISOString(),
    file: opts.file,
    process: `${os.hostname()}:${process.pid}`,
    changes: outcome.changes,
  };
  await opts.store.append(CONFIG_STREAM, [
    outcome.ok
      ? { type: 'ConfigReloaded' as const, data: base }
      : { type: 'ConfigReloadRefused' as const, data: { ...base, problems: outcome.problems } },
  ]);
  return outcome;
}

/** Why a reload that adds or removes pools is refused (null: the same pools). */
export function poolSetChange(running: readonly string[], next: readonly string[]): string | null {
  const added = next.filter((p) => !running.includes(p));
  const removed = running.filter((p) => !next.includes(p));
  if (!added.length && !removed.length) return null;
  const said = [
    ...(added.length ? [`adds pool${added.length > 1 ? 's' : ''} ${added.join(', ')}`] : []),
    ...(removed.length ? [`removes pool${removed.length > 1 ? 's' : ''} ${removed.join(', ')}`] : []),
  ].join(' and ');
  return `the configuration ${said}: pools cannot be added or removed while the service runs (running: ${running.join(', ')}); restart it to apply that change, or undo it and send SIGHUP again`;
}

/**
 * A reload of every pool: the configuration read again, refused whole (recorded once) when it is
 * invalid or adds or removes a pool, else judged and recorded pool by pool as reloadAndRecord does.
 * `pool` is null for the refusal of the whole.
 */
export async function reloadPoolsAndRecord(opts: {
  store: EventStore;
  current: ReadonlyMap<string, Config>;
  reloadConfiguration: () => Configuration;
  file: string | null;
  now: Date;
}): Promise<{ pool: string | null; outcome: ReloadOutcome }[]> {
  const record = (pool: string | null, current: Config, reloadConfig: () => Config) =>
    reloadAndRecord({ ...opts, current, reloadConfig }).then((outcome) => ({ pool, outcome }));
  const [first] = opts.current.values();
  let next: Configuration;
  try {
    next = opts.reloadConfiguration();
  } catch (err) {
    return [
      await record(null, first, () => {
        throw err;
      }),
    ];
  }
  const change = poolSetChange(
    [...opts.current.keys()],
    next.pools.map((p) => p.name),
  );
  if (change !== null) {
    return [
      await record(null, first, () => {
        throw new Error(change);
      }),
    ];
  }
  const outcomes = [];
  for (const pool of next.pools) {
    const current = opts.current.get(pool.name) ?? pool.config;
    outcomes.push(await record(pool.name, current, () => pool.config));
  }
  return outcomes;
}

/** A reload's outcome in words (the log line, and `explain`/`events` from the recorded event). */
export function reloadLine(
  o: { changes: readonly SettingChange[]; problems?: readonly string[] },
  file: string | null,
): string {
  const from = file ? ` from ${file}` : '';
  const list = o.changes.map((c) => `${c.key} ${c.from ?? '(unset)'} -> ${c.to ?? '(unset)'}`).join(', ');
  if (o.problems?.length) {
    return `⛔ CONFIGURATION RELOAD REFUSED${from}: ${o.problems.join('; ')}; the running configuration stays`;
  }
  return list
    ? `🔁 CONFIGURATION RELOADED${from}: ${list}; in force from the next cycle`
    : `🔁 CONFIGURATION RELOADED${from}: nothing changed`;
}
