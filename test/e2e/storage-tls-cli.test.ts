import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential, newPipeline } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AZURITE_ACCOUNT, AZURITE_KEY, type Azurite, startAzurite } from '../helpers/azurite.js';
import { runCli } from '../helpers/cli.js';
import { type S3Server, s3CliEnv, startS3Server } from '../helpers/s3-server.js';
import { createNastyDatabase } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

// The built CLI (`npm run build` first) against HTTPS azurite and s3rver serving a throwaway
// self-signed certificate: verification is on by default, `--insecure` turns it off with a warning,
// and NODE_EXTRA_CA_CERTS is the safe way to trust such an endpoint.
let dir: { path: string; cleanup(): Promise<void> };
let cert: string;
let azurite: Azurite;
let s3: S3Server;
let env: NodeJS.ProcessEnv;
let db: string;

beforeAll(async () => {
  dir = await tempDir('dbb-tls-e2e-');
  cert = join(dir.path, 'cert.pem');
  const key = join(dir.path, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  const tls = { cert, key };
  [azurite, s3] = await Promise.all([startAzurite({ tls }), startS3Server(['backups'], { tls })]);
  await createContainer(azurite, cert);
  db = join(dir.path, 'app.db');
  createNastyDatabase(db);
  env = {
    DBBACKUP_DATA_DIR: join(dir.path, 'data'),
    ...s3CliEnv(s3, dir.path),
    DBBACKUP_AZURE_ENDPOINT: azurite.endpoint,
    AZURE_STORAGE_KEY: AZURITE_KEY,
    // A TLS failure must not be retried; keep any retry of other failures short.
    DBBACKUP_STORAGE_RETRY_DELAY_MS: '10',
    // Whatever the outer environment says, these runs start with verification on and no extra CA.
    DBBACKUP_STORAGE_INSECURE: '',
    NODE_EXTRA_CA_CERTS: '',
    NODE_TLS_REJECT_UNAUTHORIZED: '',
  };
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([azurite?.stop(), s3?.stop()]);
  await dir?.cleanup();
});

/** Creates the `backups` container, trusting (not skipping the check of) the test certificate. */
async function createContainer(server: Azurite, ca: string): Promise<void> {
  const agent = new HttpsAgent({ ca: readFileSync(ca) });
  const pipeline = newPipeline(new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
  pipeline.factories.push({
    create: (next) => ({
      sendRequest: (request) => {
        request.agent = agent;
        return next.sendRequest(request);
      },
    }),
  });
  await new BlobServiceClient(server.endpoint, pipeline).getContainerClient('backups').create();
  agent.destroy();
}

const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runCli(args, { env: { ...env, ...extraEnv }, cwd: dir.path });
const backup = (url: string, ...flags: string[]) => ['backup', '--db', 'sqlite', '--file', db, '--out', url, ...flags];
const countOf = (text: string, needle: string) => text.split(needle).length - 1;

describe.each([
  ['azure', 'azure://devstoreaccount1/backups', () => azurite.endpoint],
  ['s3', 's3://backups', () => s3.endpoint],
])('%s over HTTPS with a self-signed certificate', (scheme, root, endpoint) => {
  it('fails by default with a clear TLS error, E_CONN_REFUSED and exit 3, and leaves no backup', async () => {
    const url = `${root}/default`;
    const r = await cli(backup(url));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('error E_CONN_REFUSED');
    expect(r.stderr).toContain('TLS certificate is not trusted (self-signed certificate)');
    expect(r.stderr).toContain('NODE_EXTRA_CA_CERTS');
    expect(r.stderr).not.toContain('WARNING');
    const list = await cli(['list', '--from', url, '--insecure', '--json']);
    expect(list.code).toBe(1);
    expect(list.stdout).toContain('is not a dbbackup repository');
  });

  it('succeeds with --insecure and says so once on stderr, even with --quiet', async () => {
    const url = `${root}/insecure`;
    const r = await cli(backup(url, '--insecure', '--quiet'));
    expect(r.stderr).toContain(`WARNING: TLS certificate verification is OFF for ${scheme}:// at ${endpoint()}`);
    expect(r.stderr).toContain('NODE_EXTRA_CA_CERTS');
    expect(countOf(r.stderr, 'WARNING')).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);

    // Reads go through the same agent: verify downloads every part.
    const v = await cli(['verify', '--from', url, 'latest', '--insecure']);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('intact');
    expect(countOf(v.stderr, 'WARNING')).toBe(1);
  });

  it('succeeds without --insecure and without a warning when NODE_EXTRA_CA_CERTS trusts the certificate', async () => {
    const url = `${root}/trusted`;
    const r = await cli(backup(url), { NODE_EXTRA_CA_CERTS: cert });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const v = await cli(['verify', '--from', url, 'latest'], { NODE_EXTRA_CA_CERTS: cert });
    expect(v.code).toBe(0);
  });
});

describe('--insecure precedence and help', () => {
  it('a target\'s "insecure: true" applies without the flag, and --no-insecure overrides it', async () => {
    const url = 'azure://devstoreaccount1/backups/from-config';
    await writeFile(join(dir.path, 'insecure.yaml'), `targets:\n  lab: { url: "${url}", insecure: true }\n`);
    const fromConfig = await cli(backup(url, '--config', 'insecure.yaml'));
    expect(fromConfig.stderr).toContain('WARNING: TLS certificate verification is OFF for azure://');
    expect(fromConfig.code).toBe(0);
    const refused = await cli(backup(url, '--config', 'insecure.yaml', '--no-insecure'));
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('TLS certificate is not trusted');
  });

  it('DBBACKUP_STORAGE_INSECURE=1 is the same as --insecure', async () => {
    const r = await cli(backup('s3://backups/from-env'), { DBBACKUP_STORAGE_INSECURE: '1' });
    expect(r.code).toBe(0);
    expect(countOf(r.stderr, 'WARNING: TLS certificate verification is OFF for s3://')).toBe(1);
  });

  it('gs:// refuses --insecure with E_UNSUPPORTED and points to NODE_EXTRA_CA_CERTS', async () => {
    const r = await cli(backup('gs://backups/x', '--insecure'), { DBBACKUP_GCS_ENDPOINT: 'https://127.0.0.1:9' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error E_UNSUPPORTED');
    expect(r.stderr).toContain('NODE_EXTRA_CA_CERTS');
    expect(r.stderr).not.toContain('WARNING');
  });

  it('the help marks --insecure as dangerous and names the safer NODE_EXTRA_CA_CERTS', async () => {
    const r = await cli(['backup', '--help']);
    expect(r.stdout).toMatch(/--insecure[\s\S]*DANGEROUS[\s\S]*NODE_EXTRA_CA_CERTS/);
  });
});
