import { pgliteBackend } from '../helpers/backends';
import { controlReadsContract } from './reads-contract';

describe('control reads contract: pglite', () => {
  controlReadsContract(pgliteBackend);
});
