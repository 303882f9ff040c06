import { z } from 'zod';

/**
 * How one setting's text is read: the helpers every block of settings (the core's in config.ts, each
 * provider's) builds its schema from, so the same words ("a whole number", "true/false", a list)
 * mean the same thing in every block.
 */

/**
 * How a number is written in a setting: decimal digits, with an optional sign, fraction and exponent
 * (`30`, `0.5`, `-1`, `1e6`). JavaScript's Number() also reads `0x10`, `0o20`, `0b10000` and
 * `Infinity`; a setting would then silently mean something else than it reads, so those are refused.
 */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

const NOT_READ = '(hexadecimal, octal and binary forms like 0x10 are not read)';

/** The one rule for every numeric setting's text: decimal only (`form` says what is allowed), then read as a number. */
const decimalNumber = (form: string) =>
  z
    .unknown()
    .superRefine((v, ctx) => {
      if (typeof v === 'number' || (typeof v === 'string' && DECIMAL.test(v.trim()))) return;
      ctx.addIssue({ code: 'custom', message: `${form} ${NOT_READ}` });
    })
    .pipe(z.coerce.number());

/** A whole number within [min, max], written in decimal. */
export const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  decimalNumber('a whole number in decimal such as 30').pipe(z.number().int().min(min).max(max));

/** A number within [min, max], written in decimal. */
export const num = (min: number, max = Number.MAX_VALUE) =>
  decimalNumber('a decimal number such as 30 or 0.5').pipe(z.number().min(min).max(max));

/** true/false, 1/0 or yes/no. */
export const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v));

/** "a, b ,c" -> ["a", "b", "c"]: for comma-separated settings (GPU types, ports, data centers). */
export function splitList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
}

/**
 * A provider's or a task source's settings, declared beside it: what PROVIDER or TASK_SOURCE value
 * chooses it, its settings (spread into the configuration schema), which of them are secrets, and
 * the rules across them. Each is registered in one list (src/providers/registry.ts,
 * src/sources/index.ts): adding one touches its own file and that list, never src/config.ts.
 */
export interface SettingsDefinition<N extends string = string, S extends z.ZodRawShape = z.ZodRawShape> {
  /** The PROVIDER or TASK_SOURCE value that chooses it. */
  readonly name: N;
  /** Its settings, each with its default and what is allowed; validated only when it is chosen. */
  readonly settings: S;
  /** Its settings that hold secrets: masked when printed, redacted everywhere, never written in a configuration file. */
  readonly secrets: readonly (keyof S & string)[];
  /** Rules that need more than one setting (or a file); run only when it is chosen. Each problem names the setting and what is allowed. */
  check(values: z.output<z.ZodObject<S>>): string[];
  /**
   * Former names of its settings, by the name that replaced them: set, the old name is a
   * configuration error naming the new one (durations were in milliseconds: the value in seconds).
   */
  readonly renamed?: Readonly<Record<string, keyof S & string>>;
}

/** Any provider's or source's definition, as the lists hold them. */
export interface SettingsBlock {
  readonly name: string;
  readonly settings: z.ZodRawShape;
  readonly secrets: readonly string[];
  check(values: Record<string, unknown>): string[];
  readonly renamed?: Readonly<Record<string, string>>;
}

/** Declares a provider's or a task source's settings (see SettingsDefinition). */
export const defineSettings = <const N extends string, S extends z.ZodRawShape>(
  def: SettingsDefinition<N, S>,
): SettingsDefinition<N, S> => def;
