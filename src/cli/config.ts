import type { Command } from 'commander';
import { describeConfig } from '../config';
import { configFileJsonSchema, loadConfiguration } from '../config-file';
import type { CliIo } from './context';

interface ConfigFlags {
  schema?: boolean;
}

/**
 * `gpu-scaler config`: every pool's effective configuration (secrets masked), validated as `start`
 * validates it (a bad value exits 2 naming the pool, the key, the value and what is allowed).
 * `--schema`: the configuration file's JSON Schema, for editors.
 */
export function registerConfig(program: Command, io: CliIo): void {
  program
    .command('config')
    .description(
      'print the effective configuration of every pool (secrets masked), from the environment and --config/GPU_SCALER_CONFIG; --schema: the JSON Schema of the configuration file',
    )
    .option('--schema', "write the configuration file's JSON Schema (for editors) instead")
    .action((flags: ConfigFlags) => {
      if (flags.schema) {
        io.stdout.write(`${JSON.stringify(configFileJsonSchema(), null, 2)}\n`);
        return;
      }
      const { file, pools } = loadConfiguration(io.env);
      const from = file === null ? 'the environment (no configuration file)' : `${file} and the environment`;
      io.stdout.write(`configuration from ${from}: ${pools.length} pool${pools.length === 1 ? '' : 's'}\n`);
      for (const pool of pools) {
        io.stdout.write(`\npool ${pool.name}:\n`);
        for (const line of describeConfig(pool.config)) io.stdout.write(`  ${line}\n`);
      }
    });
}
