import { pgliteBackend } from '../helpers/backends';
import { rebuildContract } from './rebuild-contract';

describe('replay rebuild engine: pglite', () => {
  rebuildContract(() => pgliteBackend(), { concurrent: false });
});
