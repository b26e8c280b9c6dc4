// Contract: keepingLocal stores each `keepLocal` part and, as its bytes flow, writes a local copy
// of them (PartCache); CachedPartSource reads such copies back, each proven against the manifest
// before use. Neither holds a part in memory: a page map of 100 GB of pages (400 MB) streams.
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Manifest, PartEntry } from '../../domain/manifest.js';
import { DbBackupError } from '../../domain/errors.js';
import type { KeptPartCopy, PartCache, PendingPartCopy } from '../ports/part-cache.js';
import type { PartSink, PartSource } from '../ports/parts.js';
import { HashCounter, VerifyingStage } from './stream-stages.js';
import { Tee } from './tee.js';

/** Where keepingLocal keeps its copies, and whom it tells of a copy it could not keep. */
export interface KeepLocalTarget {
  cache: PartCache;
  source: string;
  backupId: string;
  /** The part was stored but no copy of it is kept (the backup goes on; its next link needs a full first). */
  onLost(part: string, error: unknown): void;
}

/**
 * `inner`, also copying the raw bytes of each `keepLocal` part into `to.cache` as they flow (a tee:
 * the slower of the two sets the pace). A copy is committed, sealed with the stored part's sha256,
 * only once the part is stored; it is discarded when storing fails. A copy that fails (a full
 * disk) never fails the part: `to.onLost` is told.
 */
export function keepingLocal(inner: PartSink, to: KeepLocalTarget): PartSink {
  return {
    async write(spec, body) {
      if (!spec.keepLocal) return inner.write(spec, body);
      const raw = new HashCounter();
      const tee = new Tee(2);
      const toStore = tee.branches[0]!;
      const toCache = tee.branches[1]!;
      let copyError: unknown;
      const copying = to.cache.put(to.source, to.backupId, toCache.stream, toCache.signal).catch((err: unknown) => {
        copyError ??= err;
        tee.drop(toCache, err);
        return undefined;
      });
      const stop = new AbortController();
      const storing = inner.write(spec, toStore.stream).catch((err: unknown) => {
        stop.abort(err);
        throw err;
      });
      const flowing = pipeline(body, raw, tee, { signal: stop.signal });
      let entry: PartEntry;
      try {
        [entry] = await Promise.all([storing, flowing]);
      } catch (err) {
        await copying.then((copy) => copy?.discard()).catch(() => undefined);
        throw err;
      }
      await keep(await copying, entry, raw).catch((err: unknown) => (copyError ??= err));
      if (copyError !== undefined) to.onLost(entry.name, copyError);
      return entry;
    },
  };
}

async function keep(copy: PendingPartCopy | undefined, entry: PartEntry, raw: HashCounter): Promise<void> {
  if (!copy) return;
  await copy.commit(entry.name, { rawSize: raw.bytes, rawSha256: raw.sha256!, storedSha256: entry.sha256 });
}

/**
 * The parts of `manifest` kept in `cache` (see PartCache), read back as a PartSource. A copy is
 * used only when its seal names this very stored part (its sha256 and raw size, as the manifest
 * records them) and its bytes hash to the seal's: read once to check before anything uses it, then
 * again, verified as it streams. Opening a part with no usable copy fails with E_UNSUPPORTED
 * (change capture then reports that no parent is usable).
 */
export class CachedPartSource implements PartSource {
  constructor(
    readonly manifest: Manifest,
    private readonly cache: PartCache,
  ) {}

  async open(part: PartEntry): Promise<Readable> {
    const what = `The local copy of part ${part.name} of backup ${this.manifest.id}`;
    const checked = await this.sealed(part, what);
    const digest = new HashCounter();
    await pipeline(checked.body, digest, new VerifyingStage(undefined, part.rawSize, what), discard()).catch((err: unknown) => {
      throw unusable(what, `cannot be read back whole (${(err as Error).message})`, err);
    });
    if (digest.sha256 !== checked.seal.rawSha256) throw unusable(what, 'is damaged (its bytes do not hash to its seal)');
    const again = await this.sealed(part, what);
    const out = new VerifyingStage(checked.seal.rawSha256, part.rawSize, what);
    pipeline(again.body, out).catch(() => {
      /* the error reaches the consumer through `out` */
    });
    return out;
  }

  /** The copy kept of `part` whose seal matches the manifest's entry. */
  private async sealed(part: PartEntry, what: string): Promise<KeptPartCopy> {
    const copy = await this.cache.get(this.manifest.source, this.manifest.id, part.name);
    if (!copy) {
      throw new DbBackupError(
        'E_UNSUPPORTED',
        `Part ${part.name} of backup ${this.manifest.id} is encrypted to age recipients and no copy of it is kept in the state folder; take a full backup.`,
      );
    }
    const { seal } = copy;
    if (seal.storedSha256 !== part.sha256 || seal.rawSize !== part.rawSize || (part.rawSha256 !== undefined && part.rawSha256 !== seal.rawSha256)) {
      copy.body.destroy();
      throw unusable(what, 'is not a copy of the part the manifest lists (another run of that backup, or the manifest was changed)');
    }
    return copy;
  }
}

function unusable(what: string, why: string, cause?: unknown): DbBackupError {
  return new DbBackupError('E_UNSUPPORTED', `${what} in the state folder ${why}; take a full backup.`, {
    ...(cause === undefined ? {} : { cause }),
  });
}

/** A sink that drops what it is given. */
function discard(): Writable {
  return new Writable({ highWaterMark: 1 << 20, write: (_chunk, _enc, cb) => cb() });
}
