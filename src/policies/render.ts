import type { PolicyTerm } from './policy';

/**
 * The one renderer of a decision's policy math, for the log block, `explain` and `status`:
 * `max(MIN_ACTIVE_GPUS=0, ceil(51 / TASKS_PER_GPU=1) = 51, busy 0 + MACHINES_TO_KEEP_IDLE=0 = 0) = 51`.
 * Each term is its formula and value (a setting taken as it is, `NAME=3`, is not repeated), put in
 * place of its name in `combine`.
 */
export function termText(t: PolicyTerm): string {
  return /^[A-Z][A-Z0-9_]*=[^\s=]+$/.test(t.formula) ? t.formula : `${t.formula} = ${t.value}`;
}

export function policyMath(p: { terms: readonly PolicyTerm[]; combine: string }, desiredBeforeCaps: number): string {
  const single = p.terms.find((t) => t.name === p.combine.trim());
  if (single) return termText(single);
  const byName = new Map(p.terms.map((t) => [t.name, t]));
  const names = [...byName.keys()].sort((a, b) => b.length - a.length).map(reEscape);
  const body = names.length
    ? p.combine.replace(new RegExp(`\\b(${names.join('|')})\\b`, 'g'), (name) => {
        const t = byName.get(name);
        return t ? termText(t) : name;
      })
    : p.combine;
  return `${body} = ${desiredBeforeCaps}`;
}

/** `operators: max(...) = 51`: the policy's name and its math. */
export function policyLine(
  p: { name: string; terms: readonly PolicyTerm[]; combine: string },
  desiredBeforeCaps: number,
): string {
  return `${p.name}: ${policyMath(p, desiredBeforeCaps)}`;
}

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
