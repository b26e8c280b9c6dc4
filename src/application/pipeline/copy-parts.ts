// Contract: copyParts copies the stored bytes of every part of a backup from one store into another,
// checking each against the manifest's size and sha256 as it streams; on any failure it removes what
// it put and throws (E_CHECKSUM / E_TRUNCATED for bad source bytes).
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Manifest, PartEntry } from '../../domain/manifest.js';
import { partKey } from '../../domain/repository-layout.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { Logger } from '../ports/logger.js';
import { removeWritten } from './part-writer.js';
import { VerifyingStage } from './stream-stages.js';

export interface CopyPartsOptions {
  /** Names the source in errors, e.g. `Part data/t.0.txt.zst of backup … in s3://bucket`. */
  describe: (part: PartEntry) => string;
  logger: Logger;
  signal: AbortSignal;
}

/** Copies every part of `manifest` from `from` into `to`; all of them land, or none is left in `to`. */
export async function copyParts(from: BlobStore, to: BlobStore, manifest: Manifest, options: CopyPartsOptions): Promise<void> {
  const written: string[] = [];
  try {
    for (const part of manifest.parts) {
      options.signal.throwIfAborted();
      const key = partKey(manifest.source, manifest.id, part.name);
      written.push(key);
      await copyObject(from, to, key, part, options.describe(part), options.signal);
    }
  } catch (err) {
    await removeWritten(to, written, options.logger, manifest.id);
    throw err;
  }
}

/** Streams one stored object from a store into another, failing on any checksum mismatch. */
async function copyObject(from: BlobStore, to: BlobStore, key: string, part: PartEntry, what: string, signal: AbortSignal): Promise<void> {
  const local = new AbortController();
  const onAbort = () => local.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const body = await from.get(key, undefined, local.signal);
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const piping = pipeline(body, new VerifyingStage(part.sha256, part.storedSize, what), out, { signal: local.signal });
    const putting = to.put(key, out, { size: part.storedSize, signal: local.signal, batched: true });
    try {
      await Promise.all([piping, putting]);
    } catch (err) {
      local.abort(err);
      await Promise.allSettled([piping, putting]);
      throw signal.aborted ? (signal.reason ?? err) : err;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
