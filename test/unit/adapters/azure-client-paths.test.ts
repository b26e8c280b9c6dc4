import { describe, expect, it } from 'vitest';
import { serviceClient } from '../../../src/adapters/storage/azure/azure-blob-store.js';
import { isRequestTimeoutPolicy } from '../../../src/adapters/storage/azure/request-timeout.js';

const KEY = Buffer.alloc(64, 3).toString('base64');

/**
 * Every way an Azure client is built gets the per-request timeout (DBBACKUP_STORAGE_TIMEOUT_MS). The
 * paths a server can exercise are also run through a stalling proxy in test/integration/storage/azure;
 * Azure AD tokens cannot be (the SDK sends bearer tokens over https only), so this checks the pipeline.
 */
describe('Azure client construction', () => {
  const paths = {
    'account key': { accountKey: KEY },
    'SAS token': { sasToken: '?sv=2024-01-01&sig=x' },
    'connection string with a key': { connectionString: `AccountName=acc;AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:1/acc` },
    'connection string with a SAS': { connectionString: 'BlobEndpoint=http://127.0.0.1:1/acc;SharedAccessSignature=sv=2024-01-01&sig=x' },
    UseDevelopmentStorage: { connectionString: 'UseDevelopmentStorage=true' },
    'connection string with neither (anonymous)': { connectionString: 'BlobEndpoint=http://127.0.0.1:1/acc;' },
    'Azure AD (DefaultAzureCredential)': {},
    'Azure AD, --insecure': { endpoint: 'https://127.0.0.1:1/acc', insecure: true },
    'anonymous, --insecure': { connectionString: 'BlobEndpoint=https://127.0.0.1:1/acc;', insecure: true },
  };
  for (const [name, options] of Object.entries(paths)) {
    it(`${name}: the request timeout is in the pipeline`, async () => {
      const client = await serviceClient({ account: 'acc', container: 'c', requestTimeoutMs: 300, ...options });
      const factories = (client as unknown as { pipeline: { factories: unknown[] } }).pipeline.factories;
      expect(factories.filter(isRequestTimeoutPolicy)).toHaveLength(1);
    });
  }

  it('a connection string with neither key nor SAS reaches the endpoint it names; UseDevelopmentStorage the emulator unless an endpoint is given', async () => {
    expect((await serviceClient({ account: 'acc', container: 'c', connectionString: 'BlobEndpoint=http://127.0.0.1:1/acc;' })).url).toBe('http://127.0.0.1:1/acc');
    expect((await serviceClient({ account: 'acc', container: 'c', connectionString: 'AccountName=acc;EndpointSuffix=core.chinacloudapi.cn' })).url).toMatch(/^https:\/\/acc\.blob\.core\.chinacloudapi\.cn\/?$/);
    expect((await serviceClient({ account: 'x', container: 'c', connectionString: 'UseDevelopmentStorage=true' })).url).toBe('http://127.0.0.1:10000/devstoreaccount1');
    expect((await serviceClient({ account: 'x', container: 'c', connectionString: 'UseDevelopmentStorage=true', endpoint: 'http://127.0.0.1:2/devstoreaccount1' })).url).toBe('http://127.0.0.1:2/devstoreaccount1');
  });
});
