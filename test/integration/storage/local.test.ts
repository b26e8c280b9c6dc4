import { LocalBlobStore } from '../../../src/adapters/storage/local/local-blob-store.js';
import { blobStoreContract } from '../../contracts/blob-store-contract.js';
import { tempDir } from '../../helpers/temp.js';

blobStoreContract('local folder', async () => {
  const dir = await tempDir('dbb-store-');
  return { store: new LocalBlobStore(dir.path), cleanup: dir.cleanup };
});
