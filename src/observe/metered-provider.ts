import { type Provider, ProviderError } from '../providers/provider';

/** Where provider calls are counted and timed (the Metrics). */
export interface ProviderCallObserver {
  providerCall(operation: string, status: string, seconds: number): void;
}

/**
 * The provider with every API call counted and timed, by operation and status (`ok`, or the
 * error kind of a ProviderError, else `error`). The calls and their results are unchanged.
 */
export function meteredProvider(inner: Provider, observer: ProviderCallObserver): Provider {
  const timed = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      const result = await call();
      observer.providerCall(operation, 'ok', (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      const status = err instanceof ProviderError ? err.kind : 'error';
      observer.providerCall(operation, status, (performance.now() - started) / 1000);
      throw err;
    }
  };
  const metered: Provider = {
    get name() {
      return inner.name;
    },
    get gpusPerWorker() {
      return inner.gpusPerWorker;
    },
    spawn: (req) => timed('spawn', () => inner.spawn(req)),
    terminate: (podId, why) => timed('terminate', () => inner.terminate(podId, why)),
    list: () => timed('list', () => inner.list()),
    get listGraceMs() {
      return inner.listGraceMs;
    },
  };
  if (inner.capacityBackoff) metered.capacityBackoff = inner.capacityBackoff.bind(inner);
  if (inner.quote) metered.quote = () => timed('quote', () => (inner.quote as NonNullable<Provider['quote']>)());
  if (inner.listAll) {
    const all = inner.listAll.bind(inner);
    metered.listAll = () => timed('list_all', () => all());
  }
  if (inner.whyNotStarted) {
    const why = inner.whyNotStarted.bind(inner);
    metered.whyNotStarted = (podId) => timed('why_not_started', () => why(podId));
  }
  if (inner.park) {
    const park = inner.park.bind(inner);
    metered.park = (podId, why) => timed('park', () => park(podId, why));
  }
  if (inner.unpark) {
    const unpark = inner.unpark.bind(inner);
    metered.unpark = (podId, why) => timed('unpark', () => unpark(podId, why));
  }
  if (inner.close) {
    const close = inner.close.bind(inner);
    metered.close = () => close();
  }
  return metered;
}
