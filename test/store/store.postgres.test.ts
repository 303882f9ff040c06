import { postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { eventStoreContract } from './contract';

// Runs whenever TEST_DATABASE_URL points at a server (.ci/run starts one).
(TEST_DATABASE_URL ? describe : describe.skip)('event store contract: postgres', () => {
  eventStoreContract(() => postgresBackend());
});
