import { DEFAULT_POOL } from '../../events/common';
import type { OverrideInForce } from '../../events/operator';
import type { AllocationRecord, AppliedLimit } from '../../events/scaling';
import { GLOBAL_COST_CAP, GLOBAL_GPU_CAP, shareText } from '../pools/allocate';
import type { PolicyTerm } from './policy';

/**
 * The one renderer of a scaling decision: its policy math, its limits (caps and floors), its
 * action. The control log (line and block), `explain`, `events`, `status`, the dashboard (through
 * /api/state, rendered on the server) and `what-if` all call these, so a decision reads the same
 * everywhere and a new policy's terms and floors need no change here: a term is known by the name
 * `combine` gives it, a limit by its recorded kind (cap or floor) and unit.
 */

/** The policy part of a decision as recorded (PolicyRecord). */
export interface PolicyMathInput {
  name: string;
  terms: readonly PolicyTerm[];
  combine: string;
}

/** A policy's terms and how they combine (a PolicyRecord or a policy's own PolicyDecision). */
export type PolicyTermsInput = Pick<PolicyMathInput, 'terms' | 'combine'>;

/** A limit as recorded (AppliedLimit). */
export type Limit = Pick<AppliedLimit, 'name' | 'kind' | 'value' | 'unit' | 'from' | 'to' | 'detail'>;

/** What the decision-wide renderers read of a decision. */
export interface DecisionFacts {
  policy: PolicyMathInput;
  desiredBeforeCaps: number;
  limits: readonly Limit[];
  desired: number;
  decision: string;
  delta: number;
  current: { total: number };
}

// ---------------------------------------------------------------------------------------------
// The policy's math

/** A term as its formula and value (a setting taken as it is, `NAME=3`, is not repeated). */
export function termText(t: PolicyTerm): string {
  return /^[A-Z][A-Z0-9_]*=[^\s=]+$/.test(t.formula) ? t.formula : `${t.formula} = ${t.value}`;
}

/** Each term's name in `combine` replaced by `render(term)`. */
function substitute(p: PolicyTermsInput, render: (t: PolicyTerm) => string): string {
  const byName = new Map(p.terms.map((t) => [t.name, t]));
  const names = [...byName.keys()].sort((a, b) => b.length - a.length).map(reEscape);
  if (!names.length) return p.combine;
  return p.combine.replace(new RegExp(`\\b(${names.join('|')})\\b`, 'g'), (name) => {
    const t = byName.get(name);
    return t ? render(t) : name;
  });
}

/**
 * The policy's math in full, for the log block, `explain` and `status`:
 * `max(MIN_ACTIVE_GPUS=0, ceil(51 / TASKS_PER_GPU=1) = 51, busy 0 + MACHINES_TO_KEEP_IDLE=0 = 0) = 51`.
 */
export function policyMath(p: PolicyTermsInput, desiredBeforeCaps: number): string {
  const single = p.terms.find((t) => t.name === p.combine.trim());
  if (single) return termText(single);
  return `${substitute(p, termText)} = ${desiredBeforeCaps}`;
}

/** The policy's math with each term by name and value, for a table cell: `max(warm 4, byQueue 3) = 4`. */
export function policyMathShort(p: PolicyTermsInput, desiredBeforeCaps: number): string {
  const single = p.terms.find((t) => t.name === p.combine.trim());
  if (single) return `${single.name} ${single.value}`;
  return `${substitute(p, (t) => `${t.name} ${t.value}`)} = ${desiredBeforeCaps}`;
}

/** `operators: max(...) = 51`: the policy's name and its math. */
export function policyLine(p: PolicyMathInput, desiredBeforeCaps: number): string {
  return `${p.name}: ${policyMath(p, desiredBeforeCaps)}`;
}

// ---------------------------------------------------------------------------------------------
// Limits: caps and floors

export const capsOf = <L extends Limit>(limits: readonly L[]): L[] => limits.filter((l) => l.kind === 'cap');
export const floorsOf = <L extends Limit>(limits: readonly L[]): L[] => limits.filter((l) => l.kind === 'floor');

/**
 * The one cap applied before `requested` (what the policy wanted within MAX_WORKERS): the caps
 * after it are the ones a decision line reports as cutting `requested` to the final count.
 */
const REQUEST_CAP = 'MAX_WORKERS';
export const capsAfterRequest = <L extends Limit>(limits: readonly L[]): L[] =>
  capsOf(limits).filter((l) => l.name !== REQUEST_CAP);

/** A limit's value in its unit's usual form: `2.50` for USD/h, `4` otherwise. */
export const limitValue = (l: Pick<Limit, 'value' | 'unit'>): string =>
  l.unit === 'USD/h' ? l.value.toFixed(2) : String(l.value);

/** `MAX_ACTIVE_GPUS=4`, `MAX_HOURLY_COST_USD=2.50`. */
export const limitSetting = (l: Pick<Limit, 'name' | 'value' | 'unit'>): string =>
  l.name === DRAIN_LIMIT ? DRAIN_LIMIT : `${l.name}=${limitValue(l)}`;

const worker = (x: number) => `${x} worker${x === 1 ? '' : 's'}`;

/** The log block's line: `cap MAX_WORKERS=6 cut desired 51 -> 6 workers` / `floor ... raised desired 0 -> 2 workers`. */
export function limitLine(l: Limit): string {
  const text = `${l.kind} ${limitSetting(l)} ${l.kind === 'floor' ? 'raised' : 'cut'} desired ${l.from} -> ${worker(l.to)}`;
  return l.detail ? `${text} (${l.detail})` : text;
}

/**
 * A decision's reason: `capped to 3 workers by MAX_HOURLY_COST_USD=2.50: 3 x 0.69 = 2.07 USD/h`; with
 * the operator's override that set it, `capped to 2 workers by MAX_ACTIVE_GPUS=2, set by ana@ops-1 at
 * 03:12 UTC for 2 h: incident 123`.
 */
export function limitReason(l: Limit, overrides: readonly OverrideFacts[] = []): string {
  return `${l.kind === 'floor' ? 'raised' : 'capped'} to ${worker(l.to)} by ${limitSettingBy(l, overrides)}${l.detail ? `: ${l.detail}` : ''}`;
}

/** Short, for a table cell or a `status` line: `cap MAX_WORKERS=6: 51 -> 6`. */
export function limitShort(l: Limit): string {
  return `${l.kind} ${limitSetting(l)}: ${l.from} -> ${l.to}`;
}

/** `status`'s limits line: each limit short, with its detail. */
export function limitsText(limits: readonly Limit[]): string {
  return limits.length
    ? limits.map((l) => `${limitShort(l)}${l.detail ? ` (${l.detail})` : ''}`).join('; ')
    : 'none applied';
}

/** The caps' names, comma-joined (the `capped_by` column); null when none cut. */
export function cappedBy(limits: readonly Limit[]): string | null {
  const caps = capsOf(limits);
  return caps.length ? caps.map((l) => l.name).join(',') : null;
}

/** `events`' note on the limits: ` (capped by MAX_WORKERS,MAX_ACTIVE_GPUS) (raised by MIN_ACTIVE_GPUS)`. */
export function limitsNote(limits: readonly Limit[]): string {
  const caps = cappedBy(limits);
  const floors = floorsOf(limits).map((l) => l.name);
  return `${caps ? ` (capped by ${caps})` : ''}${floors.length ? ` (raised by ${floors.join(',')})` : ''}`;
}

/** `explain`'s sentences on the limits, each kind in its own words (an operator's override named where it set one). */
export function limitSentences(
  d: Pick<DecisionFacts, 'limits' | 'desired'> & { overrides?: readonly OverrideFacts[] },
): string[] {
  const out: string[] = [];
  const o = d.overrides ?? [];
  for (const l of floorsOf(d.limits)) {
    out.push(
      `The floor ${limitSettingBy(l, o)} raised it from ${l.from} to ${l.to}${l.detail ? ` (${l.detail})` : ''}.`,
    );
  }
  const caps = capsOf(d.limits);
  if (caps.length) {
    out.push(
      `${caps.map((l) => `${limitSettingBy(l, o)} cut it from ${l.from} to ${l.to}${l.detail ? ` (${l.detail})` : ''}`).join(', then ')}, so the final desired count was ${worker(d.desired)}.`,
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The global budget across pools (GLOBAL_MAX_ACTIVE_GPUS, GLOBAL_MAX_HOURLY_COST_USD)

/** What the budget renderers read of a decision: its pool and the allocation it recorded (null: no global cap). */
export interface AllocationFacts {
  pool?: string;
  allocation?: AllocationRecord | null;
}

/**
 * The decision's share of the global budget in words, from the one renderer (src/pools/allocate.ts
 * shareText): `wanted 6 GPUs, got 2: GLOBAL_MAX_ACTIVE_GPUS=8 went first to video (priority 10, wanted 6)`;
 * null when no global cap was set (or the decision is older than pools).
 */
export function allocationText(d: AllocationFacts): string | null {
  if (!d.allocation) return null;
  return shareText(d.allocation, d.pool ?? DEFAULT_POOL);
}

/** Whether a global cap held the decision's pool below what it wanted. */
export function heldByGlobalCap(d: AllocationFacts): boolean {
  const pool = d.pool ?? DEFAULT_POOL;
  return d.allocation?.shares.some((s) => s.pool === pool && s.limitedBy !== null) ?? false;
}

/**
 * `explain`'s sentence on the global budget: `The global budget (pool image): wanted 6 GPUs, got 6:
 * within the global caps.`; none without a global cap, and none when a global cap cut the desired
 * count: that limit's sentence says the share already (its detail is shareText).
 */
export function allocationSentences(d: AllocationFacts & { limits?: readonly { name: string }[] }): string[] {
  const text = allocationText(d);
  if (!text || d.limits?.some((l) => l.name === GLOBAL_GPU_CAP || l.name === GLOBAL_COST_CAP)) return [];
  return [`The global budget (pool ${d.pool ?? DEFAULT_POOL}): ${text}.`];
}

/** The one-liners' note (`events`, the timeline): ` (global budget: wanted 6 GPUs, got 2: ...)` when a global cap held the pool back. */
export function allocationNote(d: AllocationFacts): string {
  return heldByGlobalCap(d) ? ` (global budget: ${allocationText(d)})` : '';
}

// ---------------------------------------------------------------------------------------------
// Operators' overrides (pause, drain, set KEY=VALUE: src/control/overrides.ts)

/** An override as recorded with a decision and listed by `overrides`, `status` and the dashboard. */
export type OverrideFacts = Pick<
  OverrideInForce,
  'command' | 'key' | 'value' | 'by' | 'at' | 'reason' | 'forSec' | 'until' | 'pool'
>;

/** The one name of a drain's limit (a cap to 0 workers recorded with the decision). */
export const DRAIN_LIMIT = 'drain';

/** A span in the largest units that say it: `2 h`, `1 h 30 min`, `45 min`, `90 s`. */
export function durationWords(sec: number): string {
  const s = Math.round(sec);
  if (s < 120 && s % 60 !== 0) return `${s} s`;
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = [d ? `${d} d` : '', h ? `${h} h` : '', m ? `${m} min` : ''].filter(Boolean);
  return parts.length ? parts.join(' ') : `${s} s`;
}

/** `03:12 UTC` of an ISO time (with the date when `withDate`). */
function timeOfDay(iso: string, withDate = false): string {
  const t = iso.replace(/\.\d+Z$/, 'Z');
  return withDate ? `${t.slice(0, 10)} ${t.slice(11, 16)} UTC` : `${t.slice(11, 16)} UTC`;
}

/** When an override ends, with its date: to the minute, or to the second when that is not :00 (a `--for 30s`). */
function endTime(iso: string): string {
  const t = iso.replace(/\.\d+Z$/, 'Z');
  return t.slice(17, 19) === '00' ? timeOfDay(iso, true) : `${t.slice(0, 10)} ${t.slice(11, 19)} UTC`;
}

/** Who, when, for how long, why: `ana@ops-1 at 03:12 UTC for 2 h: incident 123`. */
export function overrideBy(o: OverrideFacts): string {
  const span = o.forSec !== null ? ` for ${durationWords(o.forSec)}` : '';
  return `${o.by} at ${timeOfDay(o.at)}${span}${o.reason ? `: ${o.reason}` : ''}`;
}

/** What it does: `paused`, `draining`, `MAX_ACTIVE_GPUS=2 set`. */
function overrideWhat(o: OverrideFacts): string {
  if (o.command === 'pause') return 'paused';
  if (o.command === 'drain') return 'draining';
  return `${o.key}=${o.value} set`;
}

/** `paused by ana@ops-1 at 03:12 UTC for 2 h: incident 123`, `MAX_WORKERS=4 set by ...`. */
export function overrideText(o: OverrideFacts): string {
  return `${overrideWhat(o)} by ${overrideBy(o)}`;
}

/** A line of the overrides list: the pool, what, who, why, and until when. */
export function overrideLine(o: OverrideFacts, end?: { how: string; at: string } | null): string {
  const pool = o.pool === '*' ? 'all pools' : `pool ${o.pool}`;
  const until = end
    ? ` (ended ${endTime(end.at)}: ${end.how})`
    : o.until
      ? ` (until ${endTime(o.until)})`
      : ' (until a later command ends it)';
  return `${pool}: ${overrideText(o)}${until}`;
}

/** Why spawning stopped under a pause or a drain: the override's own words. */
export const overrideBlockWhy = (o: OverrideFacts): string => overrideText(o);

/** `MAX_ACTIVE_GPUS=2, set by ana@ops-1 at 03:12 UTC for 2 h: incident 123` when an override set it, else `MAX_ACTIVE_GPUS=2`. */
export function limitSettingBy(l: Pick<Limit, 'name' | 'value' | 'unit'>, overrides: readonly OverrideFacts[]): string {
  if (l.name === DRAIN_LIMIT) {
    const d = overrides.find((o) => o.command === 'drain');
    return d ? `a drain, ${overrideText(d)}` : 'a drain';
  }
  const set = [...overrides].reverse().find((o) => o.command === 'set' && o.key === l.name);
  return set ? `${limitSetting(l)}, set by ${overrideBy(set)}` : limitSetting(l);
}

/** `explain`'s sentences on the overrides in force that are not a limit's (pause, drain, other settings). */
export function overrideSentences(d: { overrides?: readonly OverrideFacts[]; limits: readonly Limit[] }): string[] {
  const o = d.overrides ?? [];
  if (!o.length) return [];
  const named = new Set(d.limits.map((l) => l.name));
  const rest = o.filter((x) =>
    x.command === 'set' ? !named.has(x.key ?? '') : x.command !== 'drain' || !named.has(DRAIN_LIMIT),
  );
  return rest.length ? [`In force: ${rest.map(overrideText).join('; ')}.`] : [];
}

// ---------------------------------------------------------------------------------------------
// The whole decision

/** The decision's math on one line (the dashboard's column): `max(minActive 0, byTasks 51, busyPlusIdle 0) = 51; cap MAX_WORKERS=6: 51 -> 6`. */
export function decisionMathShort(d: Pick<DecisionFacts, 'policy' | 'desiredBeforeCaps' | 'limits'>): string {
  return [policyMathShort(d.policy, d.desiredBeforeCaps), ...d.limits.map(limitShort)].join('; ');
}

/** The same in full (a tooltip, `explain`): every term's formula, each limit with its detail. */
export function decisionMath(d: Pick<DecisionFacts, 'policy' | 'desiredBeforeCaps' | 'limits'>): string {
  return [policyMath(d.policy, d.desiredBeforeCaps), ...d.limits.map(limitLine)].join('; ');
}

/**
 * Why a scale-up is smaller than the policy wanted: `desired 51 capped to 6 by MAX_WORKERS=6`;
 * empty when no cap cut it. Names every cap that cut, the first's from and the last's to.
 */
export function capNote(d: Pick<DecisionFacts, 'limits'>): string {
  const caps = capsOf(d.limits);
  if (!caps.length) return '';
  return `desired ${caps[0].from} capped to ${caps[caps.length - 1].to} by ${caps.map(limitSetting).join(', then ')}`;
}

/** `SCALE UP by 6 (desired 51 capped to 6 by MAX_WORKERS=6)`, `SCALE DOWN by 2`, `MAINTAIN`. */
export function decisionWords(d: Pick<DecisionFacts, 'decision' | 'delta' | 'limits'>): string {
  if (d.decision === 'SCALE_UP') {
    const note = capNote(d);
    return `SCALE UP by ${d.delta}${note ? ` (${note})` : ''}`;
  }
  if (d.decision === 'SCALE_DOWN') return `SCALE DOWN by ${d.delta}`;
  return 'MAINTAIN';
}

/** A decision's mode, as recorded (absent in decisions older than the field: active). */
export interface ModeFacts {
  mode?: string;
}

/** True when the decision was made in shadow (MODE=shadow): recorded, never acted on. */
export const inShadow = (d: ModeFacts): boolean => d.mode === 'shadow';

/** What a decision made in shadow is, in one sentence (every surface says it the same way). */
export const SHADOW_NOTE =
  'made in shadow (MODE=shadow): nothing was done; its spawns and terminations were recorded as intended actions';

/** The mode's words for a decision: the shadow note, or null for an active decision. */
export function modeText(d: ModeFacts): string | null {
  return inShadow(d) ? SHADOW_NOTE : null;
}

/** ` [shadow: nothing done]` after a decision's one-liner when it was made in shadow; '' when active. */
export const modeTag = (d: ModeFacts): string => (inShadow(d) ? ' [shadow: nothing done]' : '');

const workers = (n: number) => `${n} worker${n === 1 ? '' : 's'}`;

/**
 * The action: `🚀 SCALING UP: Creating 6 new workers (desired 51 capped to 6 by MAX_WORKERS=6)`,
 * the number created being the number spawned; `📉 SCALING DOWN: Terminating 2 idle workers (w1, w2)`;
 * `🛑 CANCELLING 2 spawning workers no longer wanted (w3, w4)`. A decision made in shadow says what it
 * would have done and that nothing was: `🕶️ SHADOW, nothing done: would be 🚀 SCALING UP: ...`.
 */
export function actionText(
  d: Pick<DecisionFacts, 'decision' | 'delta' | 'limits'> &
    ModeFacts & { terminate?: readonly { workerId: string }[]; cancel?: readonly { workerId: string }[] },
): string | null {
  const text = activeActionText(d);
  return text && inShadow(d) ? `🕶️ SHADOW, nothing done: would be ${text}` : text;
}

function activeActionText(
  d: Pick<DecisionFacts, 'decision' | 'delta' | 'limits'> & {
    terminate?: readonly { workerId: string }[];
    cancel?: readonly { workerId: string }[];
  },
): string | null {
  if (d.decision === 'SCALE_UP') {
    const note = capNote(d);
    return `🚀 SCALING UP: Creating ${d.delta} new worker${d.delta === 1 ? '' : 's'}${note ? ` (${note})` : ''}`;
  }
  if (d.decision === 'SCALE_DOWN') {
    const cancel = d.cancel ?? [];
    const idle = d.terminate?.length ?? d.delta - cancel.length;
    const parts: string[] = [];
    if (idle > 0 || cancel.length === 0) {
      const ids = d.terminate?.length ? ` (${d.terminate.map((t) => t.workerId).join(', ')})` : '';
      parts.push(`📉 SCALING DOWN: Terminating ${idle} idle worker${idle === 1 ? '' : 's'}${ids}`);
    }
    if (cancel.length > 0) parts.push(cancelText(cancel));
    return parts.join('; ');
  }
  return null;
}

/** `🛑 CANCELLING 2 spawning workers no longer wanted (w3, w4)`. */
export function cancelText(cancel: readonly { workerId: string }[]): string {
  return `🛑 CANCELLING ${cancel.length} spawning ${workers(cancel.length).replace(/^\d+ /, '')} no longer wanted (${cancel.map((t) => t.workerId).join(', ')})`;
}

/** `explain`'s sentence on cancelled spawns: how many, why, and that none had taken a task. */
export function cancelSentence(cancel: readonly { workerId: string; reason: string }[]): string | null {
  if (!cancel.length) return null;
  return `${workers(cancel.length)} still spawning ${cancel.length === 1 ? 'was' : 'were'} cancelled, newest first (${cancel
    .map((t) => t.workerId)
    .join(', ')}): ${cancel[0].reason}; none had taken a task.`;
}

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---------------------------------------------------------------------------------------------
// A failing task source

/**
 * What the fleet does once the task source has failed SOURCE_FAILURE_CYCLES cycles in a row: held
 * as it is (workers: null), or brought to FALLBACK_WORKERS (as KEDA's fallback).
 */
export interface SourceFallback {
  /** SOURCE_FAILURE_CYCLES. */
  afterCycles: number;
  /** FALLBACK_WORKERS; null: unset, the fleet is held. */
  workers: number | null;
}

/**
 * The one sentence of a fallback, in the decision's reasons and the SourceHealthy condition:
 * `no valid task count for 5 cycles in a row (SOURCE_FAILURE_CYCLES=3): the fleet is held as it is ...`.
 */
export function fallbackReason(f: SourceFallback, failedCycles: number): string {
  const action =
    f.workers === null
      ? 'the fleet is held as it is (no scale-down on missing data; FALLBACK_WORKERS unset)'
      : `the fleet goes to FALLBACK_WORKERS=${f.workers} (workers that may hold a task by the last valid count are kept)`;
  return `no valid task count for ${failedCycles} cycles in a row (SOURCE_FAILURE_CYCLES=${f.afterCycles}): ${action}`;
}
