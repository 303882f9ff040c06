import type { AnomalyKind } from '../../events/anomaly';
import type { SpawnFailureKind } from '../../events/worker';

/**
 * Provider failures that stop spawning until the operator acts: none of them fixes itself, and
 * each further try would cost an API call for the same answer. While stopped, the spawn guard probes
 * the provider with a read every few cycles and resumes when it succeeds (no restart needed). One
 * entry per kind: the anomaly it raises, what the critical line says, and what to do.
 */
export type RefusalKind = Extract<SpawnFailureKind, 'auth' | 'billing' | 'invalid_request' | 'api_retired'>;

export interface Refusal {
  anomaly: AnomalyKind;
  /** "the provider refused our credentials": completes "spawning stopped: ...". */
  why: string;
  fix: string;
  causes: string[];
  /** The reason written on the spawns of the same decision that were not tried. */
  notAttempted: string;
}

export const REFUSALS: Record<RefusalKind, Refusal> = {
  auth: {
    anomaly: 'provider_auth_failed',
    why: 'the provider refused our credentials or their permissions',
    fix: 'fix the key, or grant the permission the error names: spawning resumes by itself once a probe succeeds (a key changed in the settings is read at start)',
    causes: [
      'a wrong or revoked API key',
      'no access to the requested resources',
      'a Kubernetes Role without the verb on pods',
    ],
    notAttempted: 'the provider refused our credentials',
  },
  billing: {
    anomaly: 'provider_billing_failed',
    why: 'the provider refused to bill the account (402 Payment Required)',
    fix: 'add funds or fix the payment method: spawning resumes by itself once a probe succeeds',
    causes: ['no balance left on the account', 'a spending limit reached'],
    notAttempted: 'the provider refused to bill the account',
  },
  invalid_request: {
    anomaly: 'provider_request_invalid',
    why: 'the provider rejected our request as invalid',
    fix: "fix what the error names (or report a bug): a fix on the provider's side is found by the next probe, a setting is read at start",
    causes: ['a provider setting with a value the provider does not accept', 'a bug in the provider client'],
    notAttempted: 'the provider rejected our request as invalid',
  },
  api_retired: {
    anomaly: 'provider_api_retired',
    why: 'the provider API version we call is retired (410 Gone)',
    fix: 'point the provider at its current API (the error says which setting; settings are read at start): spawning resumes once a probe succeeds',
    causes: ['an API base URL setting left at a retired version'],
    notAttempted: 'the provider API version is retired',
  },
};

export const isRefusal = (kind: string | null | undefined): kind is RefusalKind =>
  kind != null && Object.hasOwn(REFUSALS, kind);
