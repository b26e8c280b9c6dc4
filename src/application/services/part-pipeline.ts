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
import { ByteCounter, DecodeStage, HashCounter, VerifyingStage } from './stream-stages.js';
import { Tee } from './tee.js';

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
 * A place the parts of one backup go. A destination whose write fails is marked failed and gets
 * nothing more; the backup carries on into the others (multi-target fan-out).
 */
export class PartDestination {
  /** Keys written (or being written) here, so a failed backup can remove them. */
  readonly written: string[] = [];
  /** Why this destination was dropped; undefined while it is healthy. */
  failure: unknown = undefined;

  constructor(readonly store: BlobStore) {}

  get failed(): boolean {
    return this.failure !== undefined;
  }
}

/**
 * The backup pipeline for one part: raw bytes → sha256 → codecs → sha256 → BlobStore.put, into one
 * or several destinations at once (the encoded bytes are teed, so they are produced once).
 * Backpressure flows from the slowest store back to the database; nothing is buffered whole.
 */
export class PartWriter implements PartSink {
  readonly destinations: readonly PartDestination[];
  private readonly entries: PartEntry[] = [];

  constructor(
    stores: BlobStore | readonly PartDestination[],
    private readonly source: string,
    private readonly backupId: string,
    private readonly codecs: CodecStep[],
    private readonly progress: ProgressReporter,
    private readonly signal: AbortSignal,
    private readonly encryption?: PartEncryption,
    /** Told when a destination fails and is dropped while others carry on. */
    private readonly onDrop?: (destination: PartDestination, error: unknown) => void,
  ) {
    this.destinations = 'put' in stores ? [new PartDestination(stores)] : stores;
  }

  /** Keys written to the first destination (the only one for a single-target backup). */
  get written(): string[] {
    return this.destinations[0]!.written;
  }

  /** True while at least one destination is healthy. */
  get alive(): boolean {
    return this.destinations.some((d) => !d.failed);
  }

  async write(spec: PartSpec, body: Readable): Promise<PartEntry> {
    const live = this.destinations.filter((d) => !d.failed);
    if (live.length === 0) throw this.destinations[0]!.failure;
    const name =
      spec.name +
      this.codecs.map((c) => (c.codec.extension ? `.${c.codec.extension}` : '')).join('') +
      (this.encryption ? `.${this.encryption.cipher.extension}` : '');
    const key = partKey(this.source, this.backupId, name);
    const identity = this.codecs.length === 0 && !this.encryption;
    // The raw bytes are hashed only when nothing else proves them on reading (see PartEntry.rawSha256).
    const first = this.codecs[0]?.codec;
    const proven = first ? first.checksOutput : this.encryption !== undefined;
    const raw = new HashCounter((n) => this.progress.advance(n, spec.object), { hash: !proven && !identity });
    const stored = new HashCounter();
    const encoders: Transform[] = this.codecs.map((c) => c.codec.encoder(c.level));
    if (this.encryption) {
      const { cipher, key: dataKey, keyId } = this.encryption;
      encoders.push(cipher.encryptor(dataKey, keyId, partContext(this.backupId, name)));
    }
    const local = new AbortController();
    const onAbort = () => local.abort(this.signal.reason);
    this.signal.addEventListener('abort', onAbort, { once: true });
    const tee = new Tee(live.length);
    try {
      const puts = live.map((d, i) => {
        const branch = tee.branches[i]!;
        d.written.push(key);
        const options = { size: identity ? spec.rawSize : undefined, signal: AbortSignal.any([local.signal, branch.signal]) };
        return d.store.put(key, branch.stream, options).then(
          () => true,
          (err: unknown) => {
            if (local.signal.aborted) return false;
            d.failure = err;
            tee.drop(branch, err);
            if (this.alive) this.onDrop?.(d, err);
            return false;
          },
        );
      });
      try {
        await pipeline([body, raw, ...encoders, stored, tee], { signal: local.signal });
      } catch (err) {
        local.abort(err);
        await Promise.allSettled(puts);
        throw this.signal.aborted ? (this.signal.reason ?? err) : err;
      }
      const landed = await Promise.all(puts);
      if (!landed.some(Boolean)) throw live[0]!.failure;
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
      ...(identity ? { rawSha256: stored.sha256! } : raw.sha256 === undefined ? {} : { rawSha256: raw.sha256 }),
      sha256: stored.sha256!,
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
 * Feeds each part, read once from the database, to several writers (one per codec chain, e.g. a
 * folder with zstd and a .tar.gz holding parts as they are). A writer whose destinations have all
 * failed is dropped and the rest carry on; the slowest writer sets the pace.
 */
export class FanOutSink implements PartSink {
  /** The writers should report no progress themselves: this sink counts each raw byte once. */
  constructor(
    private readonly writers: readonly PartWriter[],
    private readonly progress?: ProgressReporter,
  ) {}

  async write(spec: PartSpec, body: Readable): Promise<PartEntry> {
    const live = this.writers.filter((w) => w.alive);
    if (live.length === 0) return this.writers[0]!.write(spec, body);
    const counter = new ByteCounter((n) => this.progress?.advance(n, spec.object));
    const tee = new Tee(live.length);
    const writes = live.map((w, i) =>
      w.write(spec, tee.branches[i]!.stream).catch((err: unknown) => {
        tee.drop(tee.branches[i]!, err);
        return undefined;
      }),
    );
    try {
      await pipeline(body, counter, tee);
    } catch (err) {
      await Promise.allSettled(writes);
      throw err;
    }
    const entries = await Promise.all(writes);
    const entry = entries.find((e) => e !== undefined);
    if (!entry) throw live[0]!.destinations[0]!.failure ?? new DbBackupError('E_BACKUP_FAILED', `Part ${spec.name} reached no target.`);
    return entry;
  }
}

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
    const counter = new ByteCounter((n) => this.progress?.advance(n, part.object));
    pipeline(
      [
        body,
        new VerifyingStage(part.sha256, part.storedSize, what),
        ...decoders,
        ...(this.rawCheck === 'when-needed' && this.rawProven(part) ? [] : [new VerifyingStage(part.rawSha256, part.rawSize, what)]),
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
