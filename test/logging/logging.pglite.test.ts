import { pgliteBackend } from '../helpers/backends';
import { dbLoggingContract } from './contract';

describe('database logging: pglite', () => {
  dbLoggingContract(pgliteBackend);
});
