import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readyPort, type S3Server, stopChild } from './s3-server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * s3rver with the two multipart calls it lacks, ListMultipartUploads (`GET /bucket?uploads`,
 * with `prefix`) and AbortMultipartUpload (`DELETE /bucket/key?uploadId=`), answered from the
 * folder where s3rver keeps an upload's parts until it completes (`<bucket>/._S3rver_uploads/<id>/`,
 * holding `key`, `metadata` and the parts). This is a test double of those two calls only: no
 * paging (every upload in one answer) and no authentication on them.
 */
const SCRIPT = `
const { createRequire } = require('node:module');
const fs = require('node:fs');
const path = require('node:path');
const S3rver = createRequire(process.cwd() + '/')('s3rver');
const [directory, buckets] = [process.argv[1], process.argv[2].split(',').filter(Boolean)];
const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
server.middleware.unshift(async (ctx, next) => {
  const m = /^\\/([^/]+)(?:\\/(.*))?$/.exec(ctx.path);
  if (!m) return next();
  const uploads = path.join(directory, m[1], '._S3rver_uploads');
  if (ctx.method === 'GET' && !m[2] && 'uploads' in ctx.query) {
    const prefix = String(ctx.query.prefix || '');
    const rows = [];
    for (const id of fs.existsSync(uploads) ? fs.readdirSync(uploads) : []) {
      let key;
      try { key = fs.readFileSync(path.join(uploads, id, 'key'), 'utf8'); } catch { continue; }
      if (!key.startsWith(prefix)) continue;
      const at = fs.statSync(path.join(uploads, id)).mtime.toISOString();
      rows.push('<Upload><Key>' + esc(key) + '</Key><UploadId>' + id + '</UploadId><Initiated>' + at + '</Initiated><StorageClass>STANDARD</StorageClass></Upload>');
    }
    ctx.type = 'application/xml';
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>' + esc(m[1]) +
      '</Bucket><Prefix>' + esc(prefix) + '</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>' + rows.join('') + '</ListMultipartUploadsResult>';
    return;
  }
  if (ctx.method === 'DELETE' && m[2] && ctx.query.uploadId) {
    const id = String(ctx.query.uploadId);
    if (!/^[0-9a-f]+$/.test(id) || !fs.existsSync(path.join(uploads, id))) {
      ctx.status = 404;
      ctx.type = 'application/xml';
      ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>';
      return;
    }
    fs.rmSync(path.join(uploads, id), { recursive: true, force: true });
    ctx.status = 204;
    return;
  }
  return next();
});
server.run().then(({ port }) => process.stdout.write(JSON.stringify({ port }) + '\\n'), (err) => { console.error(err); process.exit(1); });
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
`;

export interface S3UploadsServer extends S3Server {
  /** Object keys of the multipart uploads begun and neither completed nor aborted in `bucket` (read from s3rver's folder). */
  pendingUploads(bucket: string): Promise<string[]>;
}

/** Starts the double on a free port with a temp directory and the given buckets; `stop()` removes both. */
export async function startS3UploadsServer(buckets: string[]): Promise<S3UploadsServer> {
  const dir = await mkdtemp(join(tmpdir(), 's3rver-up-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SCRIPT, dir, buckets.join(',')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await readyPort(child, (line) => (JSON.parse(line) as { port: number }).port);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    pendingUploads: async (bucket) => {
      const uploads = join(dir, bucket, '._S3rver_uploads');
      const ids = await readdir(uploads).catch(() => [] as string[]);
      // An upload whose key file is not written yet is one all the same (its id names it).
      const keys = await Promise.all(ids.map((id) => readFile(join(uploads, id, 'key'), 'utf8').catch(() => `(upload ${id})`)));
      return keys.sort();
    },
    stop: async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
