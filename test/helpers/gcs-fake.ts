import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CRC32C } from '@google-cloud/storage';

/**
 * A small fake of the Google Cloud Storage JSON API, enough for @google-cloud/storage 7.x: bucket
 * create/get; uploads (`uploadType=resumable` with chunked PUTs answered 308 + Range, `media`,
 * `multipart`); list with prefix/delimiter/pageToken/maxResults; metadata; `alt=media` downloads
 * with Range and `x-goog-hash`; delete. Objects live in a temp folder, streamed, never in memory.
 * Test hooks: fail the next N matching requests, drop a connection mid-body, report a wrong MD5.
 */
export interface GcsFake {
  endpoint: string;
  port: number;
  createBucket(name: string): void;
  /** The next `count` requests matching `match` get `status` (or a dropped connection for 'drop'). */
  failNext(count: number, status: number | 'drop', match?: (req: IncomingMessage) => boolean): void;
  clearFaults(): void;
  /** The next completed upload reports an MD5 that differs from the stored bytes. */
  corruptNextUploadChecksum(): void;
  /** Resumable upload sessions begun and not finished (what a killed upload leaves), as `bucket/name`. */
  openSessions(): string[];
  /** Requests seen, for assertions. */
  readonly requests: { method: string; url: string; status: number }[];
  stop(): Promise<void>;
}

interface StoredObject {
  path: string;
  size: number;
  md5: string;
  crc32c: string;
  generation: string;
  updated: string;
}

interface Session {
  bucket: string;
  name: string;
  path: string;
  received: number;
}

interface Fault {
  count: number;
  status: number | 'drop';
  match: (req: IncomingMessage) => boolean;
}

export async function startGcsFake(): Promise<GcsFake> {
  const dir = await mkdtemp(join(tmpdir(), 'gcs-fake-'));
  const buckets = new Map<string, Map<string, StoredObject>>();
  const sessions = new Map<string, Session>();
  const faults: Fault[] = [];
  const requests: GcsFake['requests'] = [];
  let corruptNext = false;
  let port = 0;

  const fileOf = () => join(dir, randomBytes(8).toString('hex'));

  async function finalize(res: ServerResponse, bucket: string, name: string, path: string): Promise<void> {
    const info = await stat(path);
    const md5 = createHash('md5');
    const crc = new CRC32C();
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      md5.update(chunk);
      crc.update(chunk);
    }
    const object: StoredObject = {
      path,
      size: info.size,
      md5: md5.digest('base64'),
      crc32c: crc.toString(),
      generation: String(Date.now() * 1000 + Math.floor(Math.random() * 1000)),
      updated: new Date().toISOString(),
    };
    const objects = buckets.get(bucket)!;
    const old = objects.get(name);
    objects.set(name, object);
    if (old) await rm(old.path, { force: true });
    const meta = metadata(bucket, name, object);
    if (corruptNext) {
      corruptNext = false;
      meta.md5Hash = createHash('md5').update('not the data').digest('base64');
      meta.crc32c = 'AAAAAA==';
    }
    json(res, 200, meta);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const path = url.pathname.replace(/^\/(upload|download)/, '').replace(/^\/storage\/v1/, '');
    const upload = url.pathname.startsWith('/upload');
    const q = url.searchParams;
    let m: RegExpExecArray | null;
    if (req.method === 'POST' && path === '/b') {
      const body = JSON.parse((await readAll(req)).toString() || '{}') as { name: string };
      buckets.set(body.name, buckets.get(body.name) ?? new Map());
      return json(res, 200, { kind: 'storage#bucket', name: body.name, id: body.name });
    }
    if ((m = /^\/b\/([^/]+)$/.exec(path)) && req.method === 'GET') {
      const name = decodeURIComponent(m[1]!);
      return buckets.has(name) ? json(res, 200, { kind: 'storage#bucket', name, id: name }) : notFound(res, 'The specified bucket does not exist.');
    }
    if (!(m = /^\/b\/([^/]+)\/o(?:\/(.+))?$/.exec(path))) return json(res, 404, { error: { code: 404, message: 'Not Found' } });
    const bucket = decodeURIComponent(m[1]!);
    const objects = buckets.get(bucket);
    if (!objects) {
      await readAll(req).catch(() => undefined);
      return notFound(res, 'The specified bucket does not exist.');
    }
    const objectName = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    if (upload) return uploadRoute(req, res, bucket, q);
    if (objectName === undefined && req.method === 'GET') return list(res, bucket, objects, q);
    const object = objectName === undefined ? undefined : objects.get(objectName);
    if (req.method === 'DELETE') {
      if (!object) return notFound(res, `No such object: ${bucket}/${objectName}`);
      objects.delete(objectName!);
      await rm(object.path, { force: true });
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'GET') {
      if (!object) return notFound(res, `No such object: ${bucket}/${objectName}`);
      if (q.get('alt') === 'media') return download(req, res, object);
      return json(res, 200, metadata(bucket, objectName!, object));
    }
    return json(res, 405, { error: { code: 405, message: 'Method not allowed' } });
  }

  async function uploadRoute(req: IncomingMessage, res: ServerResponse, bucket: string, q: URLSearchParams): Promise<void> {
    const type = q.get('uploadType');
    const uploadId = q.get('upload_id');
    if (req.method === 'POST' && type === 'resumable') {
      const meta = JSON.parse((await readAll(req)).toString() || '{}') as { name?: string };
      const name = q.get('name') ?? meta.name;
      if (!name) return json(res, 400, { error: { code: 400, message: 'name required' } });
      const id = randomBytes(12).toString('hex');
      const path = fileOf();
      await writeFile(path, '');
      sessions.set(id, { bucket, name, path, received: 0 });
      // The session URL uses the Host the client called (a proxy in front stays in the path).
      res.writeHead(200, { Location: `http://${req.headers.host ?? `127.0.0.1:${port}`}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&upload_id=${id}` });
      res.end();
      return;
    }
    if (req.method === 'PUT' && uploadId) return resumableChunk(req, res, uploadId);
    if (req.method === 'POST' && type === 'media') {
      const path = fileOf();
      await pipeline(req, createWriteStream(path));
      return finalize(res, bucket, q.get('name')!, path);
    }
    if (req.method === 'POST' && type === 'multipart') {
      const body = await readAll(req);
      const boundary = /boundary="?([^";]+)"?/.exec(req.headers['content-type'] ?? '')?.[1];
      const parts = body.toString('latin1').split(`--${boundary}`).slice(1, -1);
      const [metaPart, dataPart] = parts.map((p) => p.slice(p.indexOf('\r\n\r\n') + 4, -2));
      const meta = JSON.parse(metaPart ?? '{}') as { name?: string };
      const path = fileOf();
      await writeFile(path, Buffer.from(dataPart ?? '', 'latin1'));
      return finalize(res, bucket, q.get('name') ?? meta.name!, path);
    }
    return json(res, 400, { error: { code: 400, message: `unsupported upload ${req.method} ${type}` } });
  }

  async function resumableChunk(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const session = sessions.get(id);
    if (!session) return notFound(res, 'No such upload session');
    // `bytes a-b/total|*`, `bytes */total|*` (a status query or an empty final chunk), `bytes 0--1/0` (empty object).
    const range = /^bytes (\*|(\d+)-(-1|\d+|\*))\/(\d+|\*)$/.exec(req.headers['content-range'] ?? 'bytes */*');
    if (!range) return json(res, 400, { error: { code: 400, message: 'bad Content-Range' } });
    const total = range[4] === '*' ? undefined : Number(range[4]);
    if (range[1] !== '*' && range[3] !== '-1') {
      const start = Number(range[2]);
      if (start > session.received) return json(res, 400, { error: { code: 400, message: 'gap in upload' } });
      let written = 0;
      const sink = createWriteStream(session.path, { flags: 'r+', start });
      const counter = async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          written += chunk.length;
          yield chunk;
        }
      };
      // A request that breaks off persists nothing: the client resends from `received`.
      try {
        await pipeline(req, counter, sink);
      } catch {
        return;
      }
      session.received = Math.max(session.received, start + written);
    } else {
      await readAll(req);
    }
    const complete = total !== undefined ? session.received >= total : range[3] === '*';
    if (complete) {
      sessions.delete(id);
      if (total !== undefined && total < session.received) await truncate(session.path, total);
      return finalize(res, session.bucket, session.name, session.path);
    }
    res.writeHead(308, session.received > 0 ? { Range: `bytes=0-${session.received - 1}` } : {});
    res.end();
  }

  function list(res: ServerResponse, bucket: string, objects: Map<string, StoredObject>, q: URLSearchParams): void {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter');
    const max = Math.min(1000, Number(q.get('maxResults') ?? 1000));
    const after = q.get('pageToken') ? Buffer.from(q.get('pageToken')!, 'base64url').toString() : '';
    const names = [...objects.keys()].filter((n) => n.startsWith(prefix) && n > after).sort();
    const items: Record<string, unknown>[] = [];
    const prefixes = new Set<string>();
    let last = '';
    for (const name of names) {
      if (items.length + prefixes.size >= max) break;
      last = name;
      const rest = name.slice(prefix.length);
      const cut = delimiter ? rest.indexOf(delimiter) : -1;
      if (cut >= 0) prefixes.add(prefix + rest.slice(0, cut + delimiter!.length));
      else items.push(metadata(bucket, name, objects.get(name)!));
    }
    const more = names.length > 0 && last !== names[names.length - 1];
    json(res, 200, {
      kind: 'storage#objects',
      items,
      ...(prefixes.size ? { prefixes: [...prefixes] } : {}),
      ...(more ? { nextPageToken: Buffer.from(last).toString('base64url') } : {}),
    });
  }

  function download(req: IncomingMessage, res: ServerResponse, object: StoredObject): void {
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'x-goog-hash': `crc32c=${object.crc32c},md5=${object.md5}`,
      'x-goog-generation': object.generation,
      'x-goog-stored-content-length': object.size,
      'x-goog-stored-content-encoding': 'identity',
    };
    const r = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (r && object.size > 0) {
      const start = r[1] === '' ? Math.max(0, object.size - Number(r[2])) : Number(r[1]);
      const end = r[1] !== '' && r[2] !== '' ? Math.min(Number(r[2]), object.size - 1) : object.size - 1;
      if (start > end) {
        res.writeHead(416, { 'Content-Range': `bytes */${object.size}` }).end();
        return;
      }
      res.writeHead(206, { ...headers, 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${object.size}` });
      createReadStream(object.path, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': object.size });
    createReadStream(object.path).pipe(res);
  }

  const server: Server = createServer((req, res) => {
    const fault = faults.find((f) => f.count > 0 && f.match(req));
    res.on('finish', () => requests.push({ method: req.method ?? '', url: req.url ?? '', status: res.statusCode }));
    if (fault) {
      fault.count--;
      if (fault.status === 'drop') {
        // Read a little of the body, then cut the connection: a transfer that dies mid-part.
        req.once('data', () => req.socket.destroy());
        req.once('end', () => req.socket.destroy());
        return;
      }
      req.resume();
      req.once('end', () => json(res, fault.status as number, { error: { code: fault.status, message: 'injected failure' } }));
      return;
    }
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: { code: 500, message: String(err) } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    requests,
    createBucket: (name) => void buckets.set(name, buckets.get(name) ?? new Map()),
    failNext: (count, status, match = () => true) => void faults.push({ count, status, match }),
    clearFaults: () => void faults.splice(0),
    openSessions: () => [...sessions.values()].map((x) => `${x.bucket}/${x.name}`).sort(),
    corruptNextUploadChecksum: () => {
      corruptNext = true;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function metadata(bucket: string, name: string, o: StoredObject): Record<string, unknown> {
  return {
    kind: 'storage#object',
    id: `${bucket}/${name}/${o.generation}`,
    name,
    bucket,
    generation: o.generation,
    metageneration: '1',
    contentType: 'application/octet-stream',
    size: String(o.size),
    md5Hash: o.md5,
    crc32c: o.crc32c,
    etag: o.md5,
    timeCreated: o.updated,
    updated: o.updated,
    storageClass: 'STANDARD',
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function notFound(res: ServerResponse, message: string): void {
  json(res, 404, { error: { code: 404, message, errors: [{ message, reason: 'notFound' }] } });
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
