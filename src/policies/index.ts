import type { z } from 'zod';
import { defaultPolicy } from './default';
import { hpa } from './hpa';
import { keda } from './keda';
import { operators } from './operators';
import type { ChosenPolicy, Policy } from './policy';

/**
 * Every policy POLICY and --policy can name. Adding one: its file in this folder (name,
 * description, settings, decide) and its line here; see src/policies/README.md.
 */
export const POLICIES = {
  operators,
  keda,
  hpa,
  default: defaultPolicy,
} as const;

export type PolicyName = keyof typeof POLICIES;
export const POLICY_NAMES = Object.keys(POLICIES) as [PolicyName, ...PolicyName[]];
/** POLICY when unset. */
export const DEFAULT_POLICY: PolicyName = 'default';

type Shapes = { [K in PolicyName]: (typeof POLICIES)[K]['settings']['shape'] };
type Merge<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** Every policy's settings, one block each: spread into the configuration schema. */
export const POLICY_SETTINGS = Object.assign({}, ...Object.values(POLICIES).map((p) => p.settings.shape)) as Merge<
  Shapes[PolicyName]
>;

/** Each policy's setting names, by policy (to skip validating the ones not in use). */
export const POLICY_SETTING_KEYS: Record<string, string[]> = Object.fromEntries(
  Object.entries(POLICIES).map(([name, p]) => [name, Object.keys(p.settings.shape)]),
);

export const isPolicyName = (name: string): name is PolicyName => Object.hasOwn(POLICIES, name);

/** The policy of this name (a clear error naming the ones there are otherwise). */
export function policyNamed(name: string): Policy {
  if (!isPolicyName(name)) throw new Error(`unknown policy "${name}": expected one of ${POLICY_NAMES.join(', ')}`);
  return POLICIES[name];
}

/**
 * The policy of this name with its settings taken from `values` (e.g. the configuration or the
 * settings of a recorded decision with `--set` changes): only that policy's keys are read, defaults
 * fill the rest. Throws a message naming each bad key, its value and what is allowed.
 */
export function choosePolicy(name: string, values: Record<string, unknown>): ChosenPolicy {
  const policy = policyNamed(name);
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(policy.settings.shape)) {
    if (values[key] !== undefined && values[key] !== null) input[key] = values[key];
  }
  const res = policy.settings.safeParse(input);
  if (!res.success) {
    const problems = res.error.issues.map(
      (i) => `${String(i.path[0])}=${JSON.stringify(input[String(i.path[0])])} is not allowed: ${allowed(i)}`,
    );
    throw new Error(`policy ${name}: ${problems.join('; ')}`);
  }
  return { policy, settings: res.data };
}

/** What a setting allows, from a zod issue: `expected a number >= 1`. */
export function allowed(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'too_small':
      return `expected a number >= ${issue.minimum}`;
    case 'too_big':
      return `expected a number <= ${issue.maximum}`;
    case 'invalid_type':
      return issue.expected === 'int' ? 'expected a whole number' : `expected a ${issue.expected}`;
    default:
      return issue.message;
  }
}

/** A chosen policy's settings as the record keeps them (JSON values; unset ones left out). */
export function recordedSettings(p: ChosenPolicy): Record<string, number | string | boolean | null> {
  const out: Record<string, number | string | boolean | null> = {};
  for (const [k, v] of Object.entries(p.settings)) {
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' || v === null) out[k] = v;
  }
  return out;
}
