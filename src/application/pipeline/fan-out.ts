// Contract: writeParts runs one dump into groups of stores (one PartWriter per codec chain, the dump
// read once); it returns each store's parts or the error that dropped it, and leaves nothing behind
// in a dropped store, nor anywhere when the dump itself fails (then it throws).
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DbBackupError } from '../../domain/errors.js';
import type { PartEntry } from '../../domain/manifest.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { PartSink, PartSpec } from '../ports/parts.js';
import type { Logger } from '../ports/logger.js';
import type { ProgressReporter } from '../ports/progress.js';
import type { PartEncryption } from './part-encryption.js';
import { type CodecStep, type DestinationResult, PartDestination, PartWriter, removeWritten } from './part-writer.js';
import { copyOfTimedSource, profiledSource } from '../services/profiling.js';
import { ByteCounter } from './stream-stages.js';
import { Tee } from './tee.js';

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
    if (spec.role === 'data' && spec.rawSize !== undefined) this.progress?.expect(spec.rawSize);
    const counter = new ByteCounter((n) => this.progress?.advance(n, spec.object));
    const tee = new Tee(live.length);
    const errors: unknown[] = [];
    const writes = live.map((w, i) =>
      w.write(spec, copyOfTimedSource(tee.branches[i]!.stream)).catch((err: unknown) => {
        errors[i] = err;
        tee.drop(tee.branches[i]!, err);
        return undefined;
      }),
    );
    try {
      await pipeline(profiledSource('server-read', body), counter, tee);
    } catch (err) {
      await Promise.allSettled(writes);
      throw err;
    }
    const entries = await Promise.all(writes);
    const entry = entries.find((e) => e !== undefined);
    if (!entry) throw errors[0] ?? new DbBackupError('E_BACKUP_FAILED', `Part ${spec.name} reached no target.`);
    return entry;
  }
}

/** The stores that take the same bytes: one codec chain (and data key) for all of them. */
export interface StoreGroup {
  codecs: CodecStep[];
  encryption?: PartEncryption;
  stores: BlobStore[];
}

/** How one store fared: the parts it holds (for its manifest), or the error that dropped it. */
export type StoreOutcome = { ok: true; parts: PartEntry[] } | { ok: false; error: unknown };

export interface WritePartsOptions {
  source: string;
  backupId: string;
  progress: ProgressReporter;
  logger: Logger;
  signal: AbortSignal;
}

const SILENT: ProgressReporter = { start: () => undefined, advance: () => undefined, expect: () => undefined, stop: () => undefined };

/**
 * Gives `dump` one sink that writes every part into every store of `groups`, and returns what
 * `dump` returned with each store's outcome (`outcomes[g][s]` for `groups[g].stores[s]`). A store
 * that fails is dropped (and emptied of this backup's parts) while the others carry on. When `dump`
 * fails or the signal aborts, every store is emptied of what it got and the error is thrown.
 */
export async function writeParts<T>(
  groups: readonly StoreGroup[],
  options: WritePartsOptions,
  dump: (sink: PartSink) => Promise<T>,
): Promise<{ dumped: T; outcomes: StoreOutcome[][] }> {
  const { source, backupId, progress, logger, signal } = options;
  const writers = groups.map(
    (g) =>
      new PartWriter(
        g.stores.map((s) => new PartDestination(s)),
        source,
        backupId,
        g.codecs,
        groups.length === 1 ? progress : SILENT,
        signal,
        g.encryption,
        (d, err) => logger.warn('a target failed; the backup carries on into the others', { repository: d.store.location, error: String(err) }),
      ),
  );
  const discard = (results: DestinationResult[]) => Promise.all(results.map((r) => removeWritten(r.store, r.written, logger, backupId)));
  let dumped: T;
  try {
    dumped = await dump(writers.length === 1 ? writers[0]! : new FanOutSink(writers, progress));
    signal.throwIfAborted();
  } catch (err) {
    await discard(writers.flatMap((w) => w.results()));
    throw err;
  }
  const results = writers.map((w) => w.results());
  await discard(results.flat().filter((r) => 'error' in r));
  const outcomes = results.map((rs, i) =>
    rs.map((r): StoreOutcome => ('error' in r ? { ok: false, error: r.error } : { ok: true, parts: writers[i]!.partsWritten() })),
  );
  return { dumped, outcomes };
}
