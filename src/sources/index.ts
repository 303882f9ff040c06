import type { SettingsBlock } from '../settings';
import { httpSourceDefinition } from './http';
import { sqlSourceDefinition } from './sql';
import { tasksTableDefinition } from './tasks-table';

/**
 * Every task source TASK_SOURCE can name, with its settings (declared beside it). Adding one: its
 * definition (defineSettings in src/settings.ts: name, settings, secrets, check) in its own file
 * and its line here; src/config.ts builds the schema, the checks and the secrets from this list.
 * The first is the default (TASK_SOURCE unset).
 */
export const SOURCES = {
  'tasks-table': tasksTableDefinition,
  http: httpSourceDefinition,
  sql: sqlSourceDefinition,
} as const satisfies Record<string, SettingsBlock>;
