import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local HTTP server holding files by path; a path may be served cut short (a truncated download). */
export interface UpdateServer {
  url: string;
  files: Map<string, { body: Buffer; truncateTo?: number }>;
  requests: string[];
  close(): Promise<void>;
}

export async function startUpdateServer(): Promise<UpdateServer> {
  const files = new Map<string, { body: Buffer; truncateTo?: number }>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    const file = files.get(path);
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    const body = file.truncateTo === undefined ? file.body : file.body.subarray(0, file.truncateTo);
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    files,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** An Ed25519 test key pair; `publicKey` as the raw 32 bytes in base64 (what the executable carries). */
export function testKey(): { privateKey: KeyObject; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' }) as { x: string };
  return { privateKey, publicKey: Buffer.from(jwk.x, 'base64url').toString('base64') };
}

/** A single-executable release manifest for `file`, signed with `key`. */
export function signedManifest(key: KeyObject, version: string, file: { platform: string; name: string; body: Buffer }, changes: string[] = []): Buffer {
  const signed = JSON.stringify({
    format: 1,
    product: 'dbbackup',
    version,
    changes,
    files: [{ platform: file.platform, name: file.name, size: file.body.length, sha256: createHash('sha256').update(file.body).digest('hex') }],
  });
  return Buffer.from(JSON.stringify({ signed, signature: sign(null, Buffer.from(signed), key).toString('base64') }));
}
