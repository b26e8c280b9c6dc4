import { PassThrough, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Manifest, PartEntry } from '../../domain/manifest.js';
import { partKey } from '../../domain/repository-layout.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { Codec, CodecRegistry } from '../ports/codec.js';
import type { PartSink, PartSource, PartSpec } from '../ports/database-connector.js';
import type { ProgressReporter } from '../ports/progress.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import { DbBackupError } from '../../domain/errors.js';
import { DecodeStage, HashCounter, VerifyingStage } from './stream-stages.js';

export interface CodecStep {
  codec: Codec;
  level?: number;
}

/** The data key of an encrypted backup and the cipher that uses it. */
export interface PartEncryption {
  cipher: StreamCipher;
  key: Buffer;
  keyId: string;
}

/** The authenticated context of a part's cipher: binds every chunk to this part of this backup. */
export function partContext(backupId: string, partName: string): string {
  return `Part ${partName} of backup ${backupId}`;
}

/**
 * The backup pipeline for one part: raw bytes → sha256 → codecs → sha256 → BlobStore.put.
 * Backpressure flows from the store back to the database; nothing is buffered whole.
 */
export class PartWriter implements PartSink {
  /** Keys written so far, so a failed backup can remove them. */
  readonly written: string[] = [];
  private readonly entries: PartEntry[] = [];

  constructor(
    private readonly store: BlobStore,
    private readonly source: string,
    private readonly backupId: string,
    private readonly codecs: CodecStep[],
    private readonly progress: ProgressReporter,
    private readonly signal: AbortSignal,
    private readonly encryption?: PartEncryption,
  ) {}

  async write(spec: PartSpec, body: Readable): Promise<PartEntry> {
    const name =
      spec.name +
      this.codecs.map((c) => (c.codec.extension ? `.${c.codec.extension}` : '')).join('') +
      (this.encryption ? `.${this.encryption.cipher.extension}` : '');
    const key = partKey(this.source, this.backupId, name);
    const raw = new HashCounter((n) => this.progress.advance(n, spec.object));
    const stored = new HashCounter();
    const encoders: Transform[] = this.codecs.map((c) => c.codec.encoder(c.level));
    if (this.encryption) {
      const { cipher, key: dataKey, keyId } = this.encryption;
      encoders.push(cipher.encryptor(dataKey, keyId, partContext(this.backupId, name)));
    }
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const local = new AbortController();
    const onAbort = () => local.abort(this.signal.reason);
    this.signal.addEventListener('abort', onAbort, { once: true });
    this.written.push(key);
    const identity = this.codecs.length === 0 && !this.encryption;
    try {
      const piping = pipeline([body, raw, ...encoders, stored, out], { signal: local.signal });
      const putting = this.store.put(key, out, {
        size: identity ? spec.rawSize : undefined,
        signal: local.signal,
      });
      try {
        await Promise.all([piping, putting]);
      } catch (err) {
        local.abort(err);
        await Promise.allSettled([piping, putting]);
        throw this.signal.aborted ? (this.signal.reason ?? err) : err;
      }
    } finally {
      this.signal.removeEventListener('abort', onAbort);
    }
    const entry: PartEntry = {
      name,
      role: spec.role,
      ...(spec.object === undefined ? {} : { object: spec.object }),
      codecs: [...this.codecs.map((c) => c.codec.id), ...(this.encryption ? [this.encryption.cipher.id] : [])],
      rawSize: raw.bytes,
      storedSize: stored.bytes,
      rawSha256: raw.sha256,
      sha256: stored.sha256,
    };
    this.entries.push(entry);
    return entry;
  }

  /** Every part written so far, in a stable order (role, then name) for the manifest. */
  partsWritten(): PartEntry[] {
    const rank = { schema: 0, data: 1, 'post-data': 2, changes: 3 } as const;
    return [...this.entries].sort((a, b) => rank[a.role] - rank[b.role] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

/**
 * The restore pipeline for one part: BlobStore.get → verify stored sha256 → decode → verify raw
 * sha256. The returned stream errors (E_CHECKSUM / E_TRUNCATED) instead of ending on bad bytes,
 * so a consumer that commits only on a clean end never commits damaged data.
 */
export class PartReader implements PartSource {
  constructor(
    private readonly store: BlobStore,
    readonly manifest: Manifest,
    private readonly codecs: CodecRegistry,
    private readonly progress?: ProgressReporter,
    private readonly encryption?: PartEncryption,
  ) {}

  async open(part: PartEntry, signal?: AbortSignal): Promise<Readable> {
    const what = partContext(this.manifest.id, part.name);
    const decoders = [...part.codecs].reverse().map((id) => {
      if (this.manifest.encryption && id === this.manifest.encryption.cipher) {
        if (!this.encryption) {
          throw new DbBackupError('E_KEY', `Backup ${this.manifest.id} is encrypted with key ${this.manifest.encryption.keyId}; give its key to read it.`);
        }
        return this.encryption.cipher.decryptor(this.encryption.key, this.encryption.keyId, what);
      }
      return new DecodeStage(this.codecs.get(id).decoder(), what);
    });
    const body = await this.store.get(partKey(this.manifest.source, this.manifest.id, part.name), undefined, signal);
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const counter = new HashCounter((n) => this.progress?.advance(n, part.object));
    pipeline(
      [
        body,
        new VerifyingStage(part.sha256, part.storedSize, what),
        ...decoders,
        new VerifyingStage(part.rawSha256, part.rawSize, what),
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
