import postgres from 'postgres';

export type RawSql = postgres.Sql<Record<string, never>>;

/**
 * The raw side: porsager's `postgres` with the same connection settings the store's pool uses
 * (search_path on the bench schema, int8 as a JS number), so a ratio measures the store's layer
 * and not a difference in client configuration.
 */
export function openRaw(url: string, schema: string, max: number): RawSql {
  return postgres(url, {
    max,
    onnotice: () => {},
    connection: { search_path: `${schema},public`, application_name: 'gpu-scaler-bench-raw' },
    types: {
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    } as never,
  });
}
