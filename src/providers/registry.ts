import type { SettingsBlock } from '../settings';
import { kubernetesDefinition } from './kubernetes/settings';
import { localDefinition } from './local';
import { runpodDefinition } from './runpod/settings';
import { simulatedDefinition } from './simulated';

/**
 * Every provider PROVIDER can name, with its settings (declared beside it). Adding one: its
 * definition (defineSettings in src/settings.ts: name, settings, secrets, check) in its own file
 * and its line here; src/config.ts builds the schema, the checks and the secrets from this list.
 * The first is the default (PROVIDER unset).
 */
export const PROVIDERS = {
  simulated: simulatedDefinition,
  local: localDefinition,
  runpod: runpodDefinition,
  kubernetes: kubernetesDefinition,
} as const satisfies Record<string, SettingsBlock>;
