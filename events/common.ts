import { z } from 'zod';

export const isoTime = z.string().datetime({ offset: true });
export const count = z.number().int().nonnegative();
export const cycleNo = z.number().int().nonnegative();

/** The pool every event belongs to when it does not say (events older than pools, one-pool deployments). */
export const DEFAULT_POOL = 'default';
/** What a pool name may be: a short identifier (it names streams, metrics and log lines). */
export const POOL_NAME_PATTERN = /^[a-z0-9-]{1,40}$/;
/** POOL_NAME_PATTERN in words, for errors. */
export const POOL_NAME_ALLOWED = "1 to 40 lowercase letters, digits and '-'";
/** A pool's name. */
export const PoolName = z.string().regex(POOL_NAME_PATTERN, `a pool name is ${POOL_NAME_ALLOWED}`);
export type PoolName = z.infer<typeof PoolName>;
/**
 * The pool an event belongs to: every event type carries it. Events recorded before the field read as
 * pool `default` (the schema's default: nothing stored is rewritten).
 */
export const poolField = PoolName.default(DEFAULT_POOL);
