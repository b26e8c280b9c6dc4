import { beforeEach, describe, expect, it } from 'vitest';
import { cloudError, isRetryableStorageError } from '../../../src/adapters/storage/cloud/cloud-errors.js';
import { insecureWarningText, resetInsecureWarnings, warnInsecure } from '../../../src/adapters/storage/cloud/insecure-warning.js';
import { openCloudRepository } from '../../../src/adapters/storage/cloud/open-cloud-store.js';
import { type StorageOptions, storageOptionsFromEnv } from '../../../src/adapters/storage/cloud/storage-options.js';
import { storageOptionsFor } from '../../../src/bootstrap/storage-options.js';
import { DbBackupError } from '../../../src/domain/errors.js';

const options = (over: Partial<StorageOptions> = {}): StorageOptions => ({ s3: {}, gcs: {}, azure: {}, ...over });

describe('insecure storage option: where it comes from', () => {
  it('DBBACKUP_STORAGE_INSECURE unset leaves it unset (verify); 1/true and 0/false set it', () => {
    expect(storageOptionsFromEnv({}).insecure).toBeUndefined();
    expect(storageOptionsFromEnv({ DBBACKUP_STORAGE_INSECURE: '' }).insecure).toBeUndefined();
    expect(storageOptionsFromEnv({ DBBACKUP_STORAGE_INSECURE: '1' }).insecure).toBe(true);
    expect(storageOptionsFromEnv({ DBBACKUP_STORAGE_INSECURE: 'true' }).insecure).toBe(true);
    expect(storageOptionsFromEnv({ DBBACKUP_STORAGE_INSECURE: '0' }).insecure).toBe(false);
  });

  it('flag/env beats a config target, which applies only when neither is given (flag > env > file)', () => {
    const url = 's3://lab/prod';
    const targets = [{ url, insecure: true }];
    expect(storageOptionsFor(url, {}, targets).insecure).toBe(true);
    expect(storageOptionsFor(url, { DBBACKUP_STORAGE_INSECURE: '0' }, targets).insecure).toBe(false);
    expect(storageOptionsFor(url, { DBBACKUP_STORAGE_INSECURE: '1' }, [{ url, insecure: false }]).insecure).toBe(true);
    expect(storageOptionsFor(url, {}, [{ url }]).insecure).toBeUndefined();
    expect(storageOptionsFor('s3://other/x', {}, targets).insecure).toBeUndefined();
  });
});

describe('the insecure warning', () => {
  beforeEach(() => resetInsecureWarnings());

  it('is printed once per scheme and endpoint, names both, and offers NODE_EXTRA_CA_CERTS', () => {
    const out: string[] = [];
    warnInsecure('s3', 'https://minio.lab:9000', (t) => out.push(t));
    warnInsecure('s3', 'https://minio.lab:9000', (t) => out.push(t));
    warnInsecure('azure', 'https://minio.lab:9000', (t) => out.push(t));
    expect(out).toHaveLength(2);
    expect(out[0]).toContain('TLS certificate verification is OFF for s3:// at https://minio.lab:9000');
    expect(out[0]).toContain('NODE_EXTRA_CA_CERTS');
    expect(out[1]).toContain('azure://');
  });

  it('never shows credentials or a SAS from the endpoint URL', () => {
    const out: string[] = [];
    warnInsecure('azure', 'https://user:secret@acct.example/x?sv=1&sig=SECRET', (t) => out.push(t));
    expect(out[0]).toContain('https://acct.example/x ');
    expect(out[0]).not.toContain('secret');
    expect(out[0]).not.toContain('SECRET');
  });

  it('says the truth for a plain-HTTP endpoint: no TLS at all', () => {
    const text = insecureWarningText('s3', 'http://127.0.0.1:9000');
    expect(text).toContain('plain HTTP');
    expect(text).not.toContain('verification is OFF');
  });
});

describe('opening a repository with insecure', () => {
  beforeEach(() => resetInsecureWarnings());

  it('gs:// is refused with E_UNSUPPORTED that points to NODE_EXTRA_CA_CERTS, and nothing claims verification is off', async () => {
    const out: string[] = [];
    const open = openCloudRepository('gs://bucket/prefix', options({ insecure: true, gcs: { endpoint: 'https://gcs.lab' } }), (t) => out.push(t));
    await expect(open).rejects.toMatchObject({ code: 'E_UNSUPPORTED', message: expect.stringContaining('NODE_EXTRA_CA_CERTS') });
    expect(out).toEqual([]);
    const fine = await openCloudRepository('gs://bucket/prefix', options({ gcs: { endpoint: 'https://gcs.lab' } }), (t) => out.push(t));
    await fine.close();
    expect(out).toEqual([]);
  });

  it('azure:// and s3:// warn with the endpoint requests go to; nothing is printed without insecure', async () => {
    const out: string[] = [];
    const azure = await openCloudRepository(
      'azure://acct/container/p',
      options({ insecure: true, azure: { endpoint: 'https://blob.lab:10000/acct/', accountKey: 'a2V5' } }),
      (t) => out.push(t),
    );
    const s3 = await openCloudRepository('s3://bucket/p', options({ insecure: true, s3: { endpoint: 'https://s3.lab:9000', region: 'x' } }), (t) =>
      out.push(t),
    );
    const quiet = await openCloudRepository('s3://bucket/p', options({ s3: { endpoint: 'https://s3.other:9000', region: 'x' } }), (t) => out.push(t));
    await Promise.all([azure.close(), s3.close(), quiet.close()]);
    expect(out).toHaveLength(2);
    expect(out[0]).toContain('OFF for azure:// at https://blob.lab:10000/acct ');
    expect(out[1]).toContain('OFF for s3:// at https://s3.lab:9000 ');
  });
});

describe('a certificate the client does not trust', () => {
  it('is E_CONN_REFUSED, never retried, and says how to trust the CA', () => {
    const tlsFailure = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const err = cloudError(tlsFailure, {}, 'stat x', 's3://b/p', 'bucket') as DbBackupError;
    expect(err).toBeInstanceOf(DbBackupError);
    expect(err.code).toBe('E_CONN_REFUSED');
    expect(err.message).toContain('TLS certificate is not trusted (self-signed certificate)');
    expect(err.message).toContain('NODE_EXTRA_CA_CERTS');
    expect(err.details).toMatchObject({ retryable: false, tls: true });
    expect(isRetryableStorageError(err)).toBe(false);
    // Azure's RestError carries the code itself; a wrong host name is a trust failure too.
    const azure = cloudError(Object.assign(new Error('Hostname/IP does not match'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'stat x', 'azure://a/c', 'container');
    expect(azure).toMatchObject({ code: 'E_CONN_REFUSED', details: { tls: true } });
  });
});
