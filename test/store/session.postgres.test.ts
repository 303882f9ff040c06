import { postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { testRegistry } from '../helpers/test-events';

// What the store's own connections set for themselves at start-up.
(TEST_DATABASE_URL ? describe : describe.skip)("the store's sessions (postgres)", () => {
  test('JIT is off: an index probe the planner misjudges as large must not pay for compiling it', async () => {
    const backend = postgresBackend();
    const store = await backend.open(testRegistry());
    try {
      const rows = await store.db.query<{ jit: string }>('show jit');
      expect(rows).toEqual([{ jit: 'off' }]);
    } finally {
      await store.close();
      await backend.teardown();
    }
  });
});
