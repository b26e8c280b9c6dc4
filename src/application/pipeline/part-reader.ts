// Contract: PartReader is the PartSource of a restore: a part's stream yields its decoded bytes and
// errors (E_CHECKSUM / E_TRUNCATED / E_KEY) instead of ending when they are not what the manifest
// records. verifyParts reads every part of a backup that way and reports each part's result.
import { PassThrough, type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DbBackupError, isDbBackupError } from '../../domain/errors.js';
import type { Manifest, PartEntry } from '../../domain/manifest.js';
import { partKey } from '../../domain/repository-layout.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { PartSource } from '../ports/parts.js';
import type { ProgressReporter } from '../ports/progress.js';
import { type PartEncryption, partContext } from './part-encryption.js';
import { profiled, profiledConsumer, profiledSource } from '../services/profiling.js';
import { ByteCounter, DecodeStage, VerifyingStage, digestMismatch } from './stream-stages.js';

/**
 * The restore pipeline for one part: BlobStore.get → verify stored sha256 → decode → verify raw
 * sha256. The returned stream errors (E_CHECKSUM / E_TRUNCATED) instead of ending on bad bytes,
 * so a consumer that commits only on a clean end never commits damaged data.
 */
export class PartReader implements PartSource {
  /** See PartSource.checked: set by a restore whose checks still run. */
  checked?: Promise<void>;

  constructor(
    private readonly store: BlobStore,
    readonly manifest: Manifest,
    private readonly codecs: CodecRegistry,
    private readonly progress?: ProgressReporter,
    private readonly encryption?: PartEncryption,
    /**
     * 'always' (default, as `verify` does) recomputes the sha256 of the decoded bytes; 'when-needed'
     * skips it when something else already proves them intact: no codec (raw = stored, whose sha256
     * is checked) or an outermost decoder that checks its own output (zstd/gzip checksums, AEAD).
     */
    private readonly rawCheck: 'always' | 'when-needed' = 'always',
  ) {}

  /** Whether the decoded bytes of `part` are proven intact without hashing them again. */
  private rawProven(part: PartEntry): boolean {
    const first = part.codecs[0];
    if (first === undefined) return true;
    if (this.manifest.encryption && first === this.manifest.encryption.cipher) return true;
    return this.codecs.get(first).checksOutput;
  }

  async open(part: PartEntry, signal?: AbortSignal): Promise<Readable> {
    const what = partContext(this.manifest.id, part.name);
    const decoders = [...part.codecs].reverse().map((id, i) => {
      if (this.manifest.encryption && id === this.manifest.encryption.cipher) {
        if (!this.encryption) {
          throw new DbBackupError('E_KEY', `Backup ${this.manifest.id} is encrypted with key ${this.manifest.encryption.keyId}; give its key to read it.`);
        }
        return profiled('decrypt', this.encryption.cipher.decryptor(this.encryption.key, this.encryption.keyId, what));
      }
      // The outermost codec (decoded last) yields the raw bytes: it may produce no more than rawSize.
      const last = i === part.codecs.length - 1;
      return new DecodeStage(profiled('decompress', this.codecs.get(id).decoder(last ? { maxOutput: part.rawSize } : {})), what);
    });
    // A part the manifest lists but the store lacks is damage to the backup (exit 4), not a wrong path.
    const body = await this.store.get(partKey(this.manifest.source, this.manifest.id, part.name), undefined, signal).catch((err: unknown) => {
      throw isDbBackupError(err, 'E_NOT_FOUND') ? new DbBackupError('E_TRUNCATED', `Backup ${this.manifest.id} is damaged: ${missing(part).message}.`, { cause: err }) : err;
    });
    const out = profiledConsumer('server-load', new PassThrough({ highWaterMark: 1 << 20 }));
    const counter = new ByteCounter((n) => this.progress?.advance(n, part.object));
    pipeline(
      [
        profiledSource('store-read', body),
        profiled('verify-stored', new VerifyingStage(part.sha256, part.storedSize, what)),
        ...decoders,
        // The decoded size is always checked; the hash only where nothing else proves the bytes.
        profiled('verify-raw', new VerifyingStage(this.rawCheck === 'when-needed' && this.rawProven(part) ? undefined : part.rawSha256, part.rawSize, what)),
        counter,
        out,
      ],
      signal ? { signal } : {},
    ).catch(() => {
      /* the error reaches the consumer through `out` */
    });
    return out;
  }
}

/** The result of checking one part of a backup. */
export interface PartCheck {
  backup: string;
  part: string;
  ok: boolean;
  code?: string;
  message?: string;
}

/**
 * Streams each part of `manifest` through the verifying pipeline; never throws for a bad part.
 * `storedOnly` checks the stored bytes' size and sha256 without decoding (a restore's pre-pass:
 * the decoded bytes are checked again as they stream into the database).
 */
export async function verifyParts(
  store: BlobStore,
  manifest: Manifest,
  codecs: CodecRegistry,
  progress: ProgressReporter | undefined,
  signal: AbortSignal,
  encryption?: PartEncryption,
  storedOnly = false,
): Promise<PartCheck[]> {
  const reader = new PartReader(store, manifest, codecs, progress, encryption);
  const checks: PartCheck[] = new Array(manifest.parts.length);
  // A few parts at a time: one part's reads overlap another's hashing (and a remote store's latency).
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < manifest.parts.length; i = next++) checks[i] = await checkPart(manifest.parts[i]!);
  };
  const checkPart = async (part: PartEntry): Promise<PartCheck> => {
    signal.throwIfAborted();
    try {
      await (storedOnly ? checkStored(store, manifest, part, signal) : checkDecoded(store, reader, part, signal));
      return { backup: manifest.id, part: part.name, ok: true };
    } catch (err) {
      if (signal.aborted) throw err;
      const e = isDbBackupError(err) ? err : new DbBackupError('E_CHECKSUM', (err as Error).message, { cause: err });
      return { backup: manifest.id, part: part.name, ok: false, code: e.code, message: e.message };
    }
  };
  await Promise.all(Array.from({ length: Math.min(VERIFY_CONCURRENCY, manifest.parts.length) }, worker));
  return checks;
}

/** Parts checked at once by verifyParts. */
const VERIFY_CONCURRENCY = 3;

function missing(part: PartEntry): DbBackupError {
  return new DbBackupError('E_TRUNCATED', `part ${part.name} is missing from the repository`);
}

/** Reads a part to its end through the reader: stored and decoded bytes checked. */
async function checkDecoded(store: BlobStore, reader: PartReader, part: PartEntry, signal: AbortSignal): Promise<void> {
  const { manifest } = reader;
  if (!(await store.stat(partKey(manifest.source, manifest.id, part.name)))) throw missing(part);
  await pipeline([await reader.open(part, signal), discard()], { signal });
}

/** Checks a part's stored size and sha256 without decoding it. */
async function checkStored(store: BlobStore, manifest: Manifest, part: PartEntry, signal: AbortSignal): Promise<void> {
  const key = partKey(manifest.source, manifest.id, part.name);
  const what = partContext(manifest.id, part.name);
  if (store.digest) {
    // The store hashes the object where it is cheapest (the local one: on worker threads).
    const digest = await store.digest(key, signal);
    if (!digest) throw missing(part);
    const bad = digestMismatch(what, { size: part.storedSize, sha256: part.sha256 }, digest);
    if (bad) throw bad;
    return;
  }
  if (!(await store.stat(key))) throw missing(part);
  await pipeline([await store.get(key, undefined, signal), new VerifyingStage(part.sha256, part.storedSize, what), discard()], { signal });
}

function discard(): Writable {
  return new Writable({ highWaterMark: 1 << 20, write: (_c, _e, cb) => cb() });
}
