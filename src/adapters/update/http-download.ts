import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { DbBackupError } from '../../domain/errors.js';

const TIMEOUT_MS = 60_000;

async function request(url: string, signal?: AbortSignal): Promise<Response> {
  const signals = [AbortSignal.timeout(TIMEOUT_MS), ...(signal ? [signal] : [])];
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any(signals), redirect: 'follow' });
  } catch (err) {
    throw new DbBackupError('E_UPDATE', `Cannot reach ${url}: ${(err as Error).message}. Check the update URL and the network.`, { cause: err });
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new DbBackupError('E_UPDATE', `${url} answered HTTP ${res.status}; check the update URL.`);
  }
  return res;
}

/** The body of `url` as bytes, refused beyond `limit` bytes (whatever the server says its length is). */
export async function fetchBounded(url: string, limit: number, signal?: AbortSignal): Promise<Buffer> {
  const res = await request(url, signal);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.length;
    if (size > limit) {
      await res.body?.cancel().catch(() => undefined);
      throw new DbBackupError('E_UPDATE_AUTH', `${url} is larger than ${limit} bytes; it is not an update manifest.`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

export interface Expected {
  /** Exact byte count, when the signed manifest gives it. */
  size?: number;
  /** Upper bound when no exact size is known. */
  limit: number;
  algorithm: 'sha256' | 'sha512';
  /** The digest the bytes must have (hex for sha256, base64 for sha512 as npm's integrity). */
  digest: string;
}

/**
 * Streams `url` into the new file `dest` (mode `mode`), hashing as it goes, and fsyncs it. A body
 * shorter or longer than expected, or with another digest, rejects with E_UPDATE_AUTH; the caller
 * removes `dest` then.
 */
export async function downloadVerified(url: string, dest: string, expected: Expected, mode: number, signal?: AbortSignal): Promise<void> {
  const res = await request(url, signal);
  const hash = createHash(expected.algorithm);
  const file = await open(dest, 'wx', mode);
  let size = 0;
  try {
    const max = expected.size ?? expected.limit;
    for await (const chunk of res.body ?? []) {
      size += chunk.length;
      if (size > max) {
        await res.body?.cancel().catch(() => undefined);
        throw new DbBackupError('E_UPDATE_AUTH', `${url} is longer than the ${max} bytes expected; nothing was installed.`);
      }
      hash.update(chunk);
      await file.write(chunk);
    }
    await file.sync();
  } finally {
    await file.close();
  }
  if (expected.size !== undefined && size !== expected.size) {
    throw new DbBackupError('E_UPDATE_AUTH', `${url} ended after ${size} of ${expected.size} bytes (truncated); nothing was installed.`);
  }
  const digest = hash.digest(expected.algorithm === 'sha256' ? 'hex' : 'base64');
  if (digest !== expected.digest) {
    throw new DbBackupError('E_UPDATE_AUTH', `${url} does not have the ${expected.algorithm} the release states; nothing was installed.`);
  }
}
