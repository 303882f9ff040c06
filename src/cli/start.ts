import type { Command } from 'commander';
import { appRegistry } from '../../events/index';
import { openStore } from '../store/index';
import { describeTarget, parseDatabaseUrl } from '../store/open';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the controller as a service (until the control loop lands: open the store, migrate, report)')
    .action(async () => {
      const target = parseDatabaseUrl(process.env.DATABASE_URL);
      const store = await openStore({ target, registry: appRegistry, listen: false });
      try {
        const head = await store.headPosition();
        process.stdout.write(`gpu-scaler: store ready (${describeTarget(target)}), ${head} events\n`);
      } finally {
        await store.close();
      }
    });
}
