import os from 'node:os';
import type { Command } from 'commander';
import { Streams } from '../../events/index';
import { systemClock } from '../clock';
import { loadConfig } from '../config';
import { readFleet } from '../control/fleet';
import { deterministicId } from '../control/ids';
import { hasCode } from '../errors';
import type { Provider } from '../providers/provider';
import { planAdoption } from '../shadow/adopt';
import { listEveryPod } from '../shadow/observe';
import type { EventStore } from '../store/event-store';
import { makeProvider } from '../system';
import { CliError, type CliIo, EXIT, withStore, writeJson } from './context';
import { jsonOption } from './flags';

export interface AdoptOptions {
  namePrefix: string;
  by?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** Who runs a command: the OS user at this host. */
export const whoRuns = (): string => `${os.userInfo().username}@${os.hostname()}`;

/**
 * Takes the provider's pods named with the prefix (and not gpu-scaler's) into the workers, one
 * WorkerAdopted each, so a running fleet is handed over instead of drained. A pod adopted before
 * is not adopted again (its event id comes from its pod id).
 */
export async function runAdopt(store: EventStore, provider: Provider, io: CliIo, o: AdoptOptions): Promise<number> {
  const prefix = o.namePrefix ?? '';
  if (prefix.trim() === '') {
    throw new CliError(
      '--name-prefix is required and may not be empty: the start of the names of the pods to take over',
      EXIT.usage,
    );
  }
  const pods = await listEveryPod(provider);
  const live = new Set((await readFleet(store.reads)).map((w) => w.workerId));
  const plan = planAdoption(pods, {
    namePrefix: prefix,
    provider: provider.name,
    by: o.by ?? whoRuns(),
    at: systemClock.now().toISOString(),
    gpusPerWorker: provider.gpusPerWorker,
    liveWorkers: live,
  });
  if (plan.adopt.length === 0 && plan.skipped.length === 0) {
    throw new CliError(`${provider.name} lists no pod whose name starts "${prefix}"`, EXIT.empty);
  }
  const adopted: string[] = [];
  if (!o.dryRun) {
    for (const data of plan.adopt) {
      try {
        await store.append(Streams.worker(data.workerId), [
          { type: 'WorkerAdopted', eventId: deterministicId(`adopt:${data.provider}:${data.podId}`), data },
        ]);
        adopted.push(data.workerId);
      } catch (err) {
        if (!hasCode(err, 'EVENT_ID_CONFLICT')) throw err;
        plan.skipped.push({ name: data.name, podId: data.podId, why: 'adopted before' });
      }
    }
  }
  if (o.json) {
    writeJson(io, { dryRun: !!o.dryRun, adopt: plan.adopt, adopted, skipped: plan.skipped });
  } else {
    const verb = o.dryRun ? 'would adopt' : 'adopted';
    for (const a of plan.adopt)
      if (o.dryRun || adopted.includes(a.workerId))
        io.stdout.write(`${verb} pod ${a.podId} as worker ${a.workerId} (${a.podStatus}, ${a.gpuCount} GPU(s))\n`);
    for (const s of plan.skipped) io.stdout.write(`skipped pod ${s.podId} (${s.name}): ${s.why}\n`);
    const n = o.dryRun ? plan.adopt.length : adopted.length;
    io.stdout.write(
      `${n} pod(s) ${verb} from ${provider.name} with names starting "${prefix}"${plan.skipped.length ? `, ${plan.skipped.length} skipped` : ''}\n`,
    );
  }
  return EXIT.ok;
}

export function registerAdopt(program: Command, io: CliIo): void {
  program
    .command('adopt')
    .description("take over pods another orchestrator runs (named --name-prefix) as gpu-scaler's workers")
    .requiredOption('--name-prefix <prefix>', 'the start of the names of the pods to take over')
    .option('--by <who>', 'who hands them over (default: user@host)')
    .option('--dry-run', 'list what would be adopted, record nothing')
    .addOption(jsonOption('print what was adopted and skipped as JSON'))
    .addHelpText(
      'after',
      '\nExamples:\n  gpu-scaler adopt --name-prefix reigh-worker- --dry-run\n  gpu-scaler adopt --name-prefix reigh-worker-\n\nEach pod is recorded as a WorkerAdopted event; from then on it is a worker like the ones gpu-scaler spawned.',
    )
    .action(async (o: AdoptOptions) => {
      const provider = makeProvider(loadConfig(io.env), systemClock);
      try {
        process.exitCode = await withStore(io, (store) => runAdopt(store, provider, io, o));
      } finally {
        await provider.close?.();
      }
    });
}
