import { EventRegistry } from './registry';

/** Every event type gpu-scaler writes; the store validates against these. */
export const appRegistry = new EventRegistry([]);
