import postgres from 'postgres';
import { eventsChannel, WAKE_WINDOW_MS } from '../../src/store/event-store';
import { postgresBackend, TEST_DATABASE_URL, type TestBackend } from '../helpers/backends';
import { counted, type TestStore, testRegistry } from '../helpers/test-events';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The NOTIFY that wakes subscribers in other processes: sent after the commit, throttled.
(TEST_DATABASE_URL ? describe : describe.skip)('wake-ups of other processes (postgres)', () => {
  let backend: TestBackend;
  let store: TestStore;
  let listener: postgres.Sql;
  const heard: number[] = [];

  beforeAll(async () => {
    backend = postgresBackend();
    store = await backend.open(testRegistry());
    listener = postgres(TEST_DATABASE_URL!, { max: 1, onnotice: () => {} });
    await listener.listen(eventsChannel(store.db.schema), () => heard.push(Date.now()));
  });
  afterAll(async () => {
    await store.close();
    await listener.end({ timeout: 5 });
    await backend.teardown();
  });

  test('one append is announced at once; a burst costs one NOTIFY per window and one after its last commit', async () => {
    heard.length = 0;
    await store.append('wake', [counted(0)]);
    await waitUntil(() => heard.length >= 1);
    await sleep(WAKE_WINDOW_MS * 3); // a quiet spell

    heard.length = 0;
    const started = Date.now();
    for (let i = 1; i <= 200; i++) await store.append('wake', [counted(i)]);
    const lastCommit = Date.now();
    const burstMs = lastCommit - started;
    await sleep(WAKE_WINDOW_MS * 4);
    // At most one per window (plus the leading one), never one per append.
    expect(heard.length).toBeGreaterThanOrEqual(1);
    expect(heard.length).toBeLessThanOrEqual(Math.ceil(burstMs / WAKE_WINDOW_MS) + 2);
    expect(heard.length).toBeLessThan(200);
    // The last NOTIFY comes after the last append committed: a woken reader finds every event.
    expect(heard[heard.length - 1]).toBeGreaterThanOrEqual(lastCommit);
  });
});

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting for a NOTIFY');
    await sleep(5);
  }
}
