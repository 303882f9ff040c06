import os from 'node:os';
import { CONFIG_STREAM, type SettingChange } from '../events/operator';
import { type Config, ConfigError, ConfigSchema, isSecretSetting, isSetting, secretsOf } from './config';
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
