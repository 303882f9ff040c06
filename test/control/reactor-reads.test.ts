import { appRegistry } from '../../events/index';
import { FakeClock } from '../../src/clock';
import type { ControlLog } from '../../src/control/log';
import { SimulatedProvider } from '../../src/providers/simulated';
import { REACTOR_EVENT_TYPES, Reactor } from '../../src/reactor/reactor';
import { type Checkpoint, type EventStore, openStore } from '../../src/store/index';

const quiet: ControlLog = { log: () => {}, mirror: () => {} };

describe('the reactor reads', () => {
  let store: EventStore;
  beforeAll(async () => {
    store = await openStore({ target: 'memory://', registry: appRegistry, listen: false });
  });
  afterAll(async () => {
    await store.close();
  });

  test('only the event types it acts on, in batches of 1000', async () => {
    const clock = new FakeClock();
    const reads: { limit: number; types: readonly string[] | undefined }[] = [];
    const readBatch = store.readBatch.bind(store);
    store.readBatch = (after: Checkpoint, limit?: number, types?: readonly string[]) => {
      reads.push({ limit: limit ?? 1000, types });
      return readBatch(after, limit, types);
    };
    const reactor = new Reactor({
      store,
      provider: new SimulatedProvider({ clock, seed: 1, startupMinSec: 0, startupMaxSec: 0, failureRate: 0 }),
      clock,
      log: quiet,
    });
    await reactor.catchUp();
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.map((r) => [r.limit, r.types])).toEqual(reads.map(() => [1000, ['ScalingDecided']]));
    expect(REACTOR_EVENT_TYPES).toEqual(['ScalingDecided']);
  });
});
