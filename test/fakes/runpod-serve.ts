import { FakeRunpodApi } from './runpod-api';

/**
 * The tests' RunPod stand-in (runpod-api.ts) from the command line, for trying gpu-scaler's RunPod
 * provider without a RunPod account: `npm run runpod-standin [-- --port N]`. It prints the two
 * variables to export in the shells that run gpu-scaler, then one line per pod made or terminated,
 * with how many pods hold a GPU at that moment, until Ctrl-C. Pods are RUNNING as soon as they are made and cost
 * the catalog's price below; they run nothing, and live in this process's memory only.
 */

const API_KEY = 'rp-standin-key';

/** The stand-in's catalog: the GPU types examples/pools.yaml asks for, in stock, at these prices. */
const CATALOG: Record<string, number> = {
  'NVIDIA H100 80GB HBM3': 2.99,
  'NVIDIA A100 80GB PCIe': 1.64,
  'NVIDIA L40S': 0.86,
  'NVIDIA GeForce RTX 4090': 0.69,
};

const USAGE = 'usage: npm run runpod-standin [-- --port N]  (N: 0 to 65535; 0, the default: any free port)';

function portOf(args: string[]): number {
  if (args.length === 0) return 0;
  const [flag, value, ...rest] = args;
  const port = Number(value);
  if (flag !== '--port' || rest.length > 0 || !/^\d+$/.test(value ?? '') || port > 65535) {
    process.stderr.write(`runpod-standin: ${args.join(' ')} is not allowed\n${USAGE}\n`);
    process.exit(2);
  }
  return port;
}

async function main(): Promise<void> {
  const port = portOf(process.argv.slice(2));
  const api = new FakeRunpodApi({
    apiKey: API_KEY,
    readyOnCreate: true,
    onPod: (what, pod, holding) =>
      process.stdout.write(
        `${what} ${pod.id} ${pod.name}: ${pod.gpu?.id ?? 'no GPU'} x${pod.gpu?.count ?? 0}, image ${pod.image}; pods holding GPUs now: ${holding}\n`,
      ),
  });
  for (const [id, usd] of Object.entries(CATALOG))
    api.setGpu(id, { price: { secure: usd, community: usd * 0.6 }, availability: 'HIGH' });
  try {
    await api.start(port);
  } catch (err) {
    process.stderr.write(`runpod-standin: cannot listen on 127.0.0.1:${port}: ${String(err)}\n`);
    process.exit(1);
  }
  process.stdout.write(
    `RunPod stand-in listening on ${api.url} (pods in memory; Ctrl-C stops it). In the shells that run gpu-scaler:\n` +
      `export RUNPOD_API_URL=${api.v2} RUNPOD_API_KEY=${API_KEY}\n`,
  );
  const stop = () => {
    process.stdout.write(`stopping: ${api.livePods().length} pods were live\n`);
    api.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main();
