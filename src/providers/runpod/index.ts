import type { Clock } from '../../clock';
import { RunpodProvider } from './provider';
import { type RunpodSettings, runpodOptionsFromConfig } from './settings';

export * from './provider';
export * from './settings';

/** The RunPod provider from checked settings (PROVIDER=runpod). */
export function runpodProviderFromConfig(
  s: RunpodSettings,
  clock: Clock,
  log?: (level: 'info' | 'warning', message: string) => void,
): RunpodProvider {
  return new RunpodProvider(runpodOptionsFromConfig(s, clock, log));
}
