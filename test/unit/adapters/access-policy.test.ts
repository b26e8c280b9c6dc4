import { describe, expect, it } from 'vitest';
import { accessPolicy } from '../../../src/adapters/storage/cloud/access-policy.js';

describe('accessPolicy', () => {
  it('scopes an S3 policy to the bucket and prefix, with delete apart for prune', () => {
    const text = accessPolicy('s3://acme/prod/app');
    const policy = JSON.parse(text.slice(text.indexOf('{'))) as { Statement: { Sid: string; Action: string[]; Resource: string; Condition?: unknown }[] };
    expect(policy.Statement.map((s) => s.Sid)).toEqual(['ListRepository', 'ReadWriteRepository', 'PruneRepository']);
    expect(policy.Statement[0]).toMatchObject({ Resource: 'arn:aws:s3:::acme', Condition: { StringLike: { 's3:prefix': ['prod/app/*'] } } });
    for (const s of policy.Statement.slice(1)) expect(s.Resource).toBe('arn:aws:s3:::acme/prod/app/*');
    expect(policy.Statement.flatMap((s) => s.Action)).not.toContain('s3:*');
  });

  it('limits a GCS binding and an Azure assignment to the prefix', () => {
    expect(accessPolicy('gs://acme/prod')).toContain('resource.name.startsWith("projects/_/buckets/acme/objects/prod/")');
    const azure = accessPolicy('azure://acct/backups/prod');
    expect(azure).toContain('/storageAccounts/acct/blobServices/default/containers/backups');
    expect(azure).toContain("StringStartsWith 'prod/'");
  });
});
