import { z } from 'zod';

export const isoTime = z.string().datetime({ offset: true });
export const count = z.number().int().nonnegative();
export const cycleNo = z.number().int().nonnegative();
