import type { Command } from 'commander';
import { describeConfig, effectiveSettings, misspeltSettings } from '../config';
import { configFileJsonSchema, loadConfiguration } from '../config-file';
import { type CliIo, writeJson } from './context';
import { jsonOption } from './flags';

interface ConfigFlags {
  schema?: boolean;
  json?: boolean;
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
    .addOption(jsonOption('the file read and each pool with its effective settings (secrets masked) as JSON'))
    .action((flags: ConfigFlags) => {
      if (flags.schema) {
        writeJson(io, configFileJsonSchema());
        return;
      }
      for (const warning of misspeltSettings(io.env)) io.stderr.write(`gpu-scaler: warning: ${warning}\n`);
      const { file, pools } = loadConfiguration(io.env);
      if (flags.json) {
        writeJson(io, { file, pools: pools.map((p) => ({ name: p.name, settings: effectiveSettings(p.config) })) });
        return;
      }
      const from = file === null ? 'the environment (no configuration file)' : `${file} and the environment`;
      io.stdout.write(`configuration from ${from}: ${pools.length} pool${pools.length === 1 ? '' : 's'}\n`);
      for (const pool of pools) {
        io.stdout.write(`\npool ${pool.name}:\n`);
        for (const line of describeConfig(pool.config)) io.stdout.write(`  ${line}\n`);
      }
    });
}
