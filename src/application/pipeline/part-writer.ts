// Contract: PartWriter is the PartSink of a backup: each part's raw bytes are hashed (where nothing
// else proves them), encoded once (codecs, then encryption) and put into every healthy destination;
// a destination whose put fails is dropped and the part still lands in the others.
import { type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PartEntry } from '../../domain/manifest.js';
import { partKey } from '../../domain/repository-layout.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { Codec } from '../ports/codec.js';
import type { PartSink, PartSpec } from '../ports/parts.js';
import type { Logger } from '../ports/logger.js';
import type { ProgressReporter } from '../ports/progress.js';
import { type PartEncryption, partContext } from './part-encryption.js';
import { profiled, profiledSink, profiledSource } from '../services/profiling.js';
import { HashCounter } from './stream-stages.js';
import { Tee } from './tee.js';

export interface CodecStep {
  codec: Codec;
  level?: number;
}

/**
 * A place the parts of one backup go. A destination whose write fails is marked failed and gets
 * nothing more; the backup carries on into the others (multi-target fan-out).
 */
export class PartDestination {
  /** Keys written (or being written) here, so a failed backup can remove them. */
  readonly written: string[] = [];
  private dropped: unknown = undefined;

  constructor(readonly store: BlobStore) {}

  /** Why this destination was dropped; undefined while it is healthy. */
  get failure(): unknown {
    return this.dropped;
  }

  get failed(): boolean {
    return this.dropped !== undefined;
  }

  /** Marks the destination failed with `error`: it gets no more parts. */
  drop(error: unknown): void {
    this.dropped ??= error;
  }
}

/** What one destination of a writer got: every key put into it and, when it was dropped, why. */
export interface DestinationResult {
  store: BlobStore;
  written: readonly string[];
  error?: unknown;
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

  /** Each destination's keys and, for a dropped one, its error; in the order they were given. */
  results(): DestinationResult[] {
    return this.destinations.map((d) => ({ store: d.store, written: [...d.written], ...(d.failed ? { error: d.failure } : {}) }));
  }

  async write(spec: PartSpec, body: Readable): Promise<PartEntry> {
    const live = this.destinations.filter((d) => !d.failed);
    if (live.length === 0) throw this.destinations[0]!.failure;
    const name =
      spec.name +
      this.codecs.map((c) => (c.codec.extension ? `.${c.codec.extension}` : '')).join('') +
      (this.encryption ? `.${this.encryption.cipher.extension}` : '');
    const identity = this.codecs.length === 0 && !this.encryption;
    // The raw bytes are hashed only when nothing else proves them on reading (see PartEntry.rawSha256).
    const first = this.codecs[0]?.codec;
    const proven = first ? first.checksOutput : this.encryption !== undefined;
    // Data parts only: a total of a few metadata files would read as done long before the end.
    if (spec.role === 'data' && spec.rawSize !== undefined) this.progress.expect(spec.rawSize);
    const raw = profiled('hash-raw', new HashCounter((n) => this.progress.advance(n, spec.object), { hash: !proven && !identity }));
    const stored = profiled('hash-stored', new HashCounter());
    const encoders: Transform[] = this.codecs.map((c) => profiled('compress', c.codec.encoder(c.level)));
    if (this.encryption) {
      const { cipher, key: dataKey, keyId } = this.encryption;
      encoders.push(profiled('encrypt', cipher.encryptor(dataKey, keyId, partContext(this.backupId, name))));
    }
    const key = partKey(this.source, this.backupId, name);
    const source = profiledSource('server-read', body);
    await this.put(key, live, identity ? spec.rawSize : undefined, [source, raw, ...encoders, stored]);
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

  /**
   * Runs `stages` into a tee with one put of `key` per live destination. A put that fails drops its
   * destination; this fails when the stages fail or no put landed.
   */
  private async put(key: string, live: PartDestination[], size: number | undefined, stages: (Readable | Transform)[]): Promise<void> {
    const local = new AbortController();
    const onAbort = () => local.abort(this.signal.reason);
    this.signal.addEventListener('abort', onAbort, { once: true });
    const tee = profiledSink('store-write', new Tee(live.length));
    try {
      const puts = live.map((d, i) => {
        const branch = tee.branches[i]!;
        d.written.push(key);
        // Batched: the manifest, written after every part, is the put that makes them durable.
        const options = { size, signal: AbortSignal.any([local.signal, branch.signal]), batched: true };
        return d.store.put(key, branch.stream, options).then(
          () => true,
          (err: unknown) => {
            if (local.signal.aborted) return false;
            d.drop(err);
            tee.drop(branch, err);
            if (this.alive) this.onDrop?.(d, err);
            return false;
          },
        );
      });
      try {
        await pipeline([...stages, tee], { signal: local.signal });
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
  }
}

/** Removes the keys a failed backup wrote into `store`; a key that cannot be removed is logged, not thrown. */
export async function removeWritten(store: BlobStore, keys: readonly string[], logger: Logger, backupId: string): Promise<void> {
  for (const key of keys) {
    await store
      .delete(key)
      .catch((err: unknown) => logger.warn('could not remove a part of the failed backup', { part: key, backupId, error: String(err) }));
  }
}
