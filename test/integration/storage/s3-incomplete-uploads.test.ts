import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCloudRepository } from '../../../src/adapters/storage/cloud/open-cloud-store.js';
import { S3RVER_CREDENTIALS } from '../../helpers/s3-server.js';
import { type S3UploadsServer, startS3UploadsServer } from '../../helpers/s3-uploads-server.js';

// A backup killed mid-upload leaves an S3 multipart upload neither completed nor aborted: no object
// (list never shows it), but its parts stay stored and billed until someone aborts it. The opened
// repository's `uploads.sweep` (which prune calls with its orphan grace) aborts those under a
// prefix begun before a cut-off, and leaves younger ones (a backup running now) and other prefixes.
// Against s3rver with the multipart listing it lacks (test/helpers/s3-uploads-server.ts).
let server: S3UploadsServer;
let client: S3Client;

beforeAll(async () => {
  server = await startS3UploadsServer(['b']);
  client = new S3Client({
    endpoint: server.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});
afterAll(async () => {
  client?.destroy();
  await server?.stop();
});

/** What a kill -9 mid-upload leaves: an upload begun, one part sent, never completed. */
async function killedUpload(key: string): Promise<string> {
  const u = await client.send(new CreateMultipartUploadCommand({ Bucket: 'b', Key: key }));
  await client.send(new UploadPartCommand({ Bucket: 'b', Key: key, UploadId: u.UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 7) }));
  return u.UploadId!;
}

describe('S3 unfinished multipart uploads', () => {
  it('are aborted under the prefix when begun before the cut-off; younger ones and other prefixes stay', async () => {
    await killedUpload('repo/app/20261201T000000Z-full-aaaa/data/main.0.sqlite.zst');
    await killedUpload('other/app/20261201T000000Z-full-bbbb/data/main.0.sqlite.zst');
    const repo = await openCloudRepository('s3://b/repo', {
      s3: { endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, checksumMode: 'WHEN_REQUIRED', credentials: S3RVER_CREDENTIALS },
      gcs: {},
      azure: {},
    });
    try {
      expect(repo.uploads).toBeDefined();
      // A cut-off before they began: both are "a backup running now", left alone.
      expect(await repo.uploads!.sweep('app/', new Date(Date.now() - 3600e3))).toBe(0);
      expect(await repo.uploads!.sweep('app/', new Date(Date.now() + 1000), { dryRun: true })).toBe(1);
      expect((await server.pendingUploads('b')).length).toBe(2);
      expect(await repo.uploads!.sweep('app/', new Date(Date.now() + 1000))).toBe(1);
      expect(await server.pendingUploads('b')).toEqual(['other/app/20261201T000000Z-full-bbbb/data/main.0.sqlite.zst']);
    } finally {
      await repo.close();
    }
    // The double's abort is the service's: an aborted upload is gone for the SDK too.
    const id = await killedUpload('x/y');
    await client.send(new AbortMultipartUploadCommand({ Bucket: 'b', Key: 'x/y', UploadId: id }));
    expect(await server.pendingUploads('b')).toEqual(['other/app/20261201T000000Z-full-bbbb/data/main.0.sqlite.zst']);
  });
});
