import { postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { dbLoggingContract } from './contract';

// Runs whenever TEST_DATABASE_URL points at a server.
(TEST_DATABASE_URL ? describe : describe.skip)('database logging: postgres', () => {
  dbLoggingContract(() => postgresBackend());
});
