import { memoryBackend } from '../helpers/backends';
import { controlReadsContract } from './reads-contract';

describe('control reads contract: memory', () => {
  controlReadsContract(memoryBackend);
});
