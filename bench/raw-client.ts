import type postgres from 'postgres';

/** The raw side of the bench: porsager's client itself (run.ts shares the store's pool with it). */
export type RawSql = postgres.Sql<Record<string, never>>;
