import { postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { rebuildContract } from './rebuild-contract';

// Runs whenever TEST_DATABASE_URL points at a server (.ci/run starts one).
(TEST_DATABASE_URL ? describe : describe.skip)('replay rebuild engine: postgres', () => {
  rebuildContract(() => postgresBackend(), { concurrent: true });
});
