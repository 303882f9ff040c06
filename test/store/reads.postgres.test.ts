import { postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { controlReadsContract } from './reads-contract';

// Runs whenever TEST_DATABASE_URL points at a server (.ci/run starts one).
(TEST_DATABASE_URL ? describe : describe.skip)('control reads contract: postgres', () => {
  controlReadsContract(() => postgresBackend());
});
