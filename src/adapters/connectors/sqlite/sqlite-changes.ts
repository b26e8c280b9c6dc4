import { Readable } from 'node:stream';
import type { ChangeBatch, ChangeCapture, ChangeLimit, LogPosition, StoredChain } from '../../../application/ports/change-capture.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import { checkDatabase, FAST_MAP_PART, fastMapOf, overlayPages, PAGE_MAP_PART, pageMapOf, PAGES_PART, partNamed, type SqlitePosition } from './sqlite-overlay.js';
import { walMarkOf, withPageSnapshot } from './sqlite-live-snapshot.js';
import { encodeFastMap, encodePageMapDelta, pageMapChunks, type FastMap, type PageMap, PageMapBuilder, pagesHeader, validPageSize, HASH_BYTES } from './sqlite-page-map.js';
import { CHANGE_META_BYTES, type ChangedPages, type ChangeScan } from './sqlite-page-reader.js';
import { describeSnapshot, takeSnapshot } from './sqlite-snapshot.js';

/** What the session lends change capture: restoring a built file, and a whole chain, into its target. */
export interface SqliteRestoreHooks {
  /** Replaces the target with the file `build` writes (the session's atomic swap); `clean` as in RestoreRequest. */
  restoreBuilt(build: (file: string) => Promise<void>, request: RestoreRequest, objectsFrom: PartSource, signal: AbortSignal): Promise<RestoreOutcome>;
  restoreChain(links: PartSource[], request: RestoreRequest, signal: AbortSignal, until?: ChangeLimit): Promise<RestoreOutcome>;
}

/**
 * SQLite change capture by page: a position is a file's page map (the hash of every page), stored
 * as a part of the backup that reached it (`{ pageSize, pageCount, pageMap: <part> }`). The changes
 * since a position are the pages of a fresh snapshot whose hash differs from that map, plus the
 * snapshot's own map (the next link's position). `position()` returns its map inline instead
 * (`{ pageSize, pageCount, hashes: <base64> }`), for a caller that keeps it in memory.
 *
 * SQLite has no log to replay by time here: a link restores to its own snapshot.
 */
export class SqliteChangeCapture implements ChangeCapture {
  constructor(
    private readonly path: string,
    private readonly hooks: SqliteRestoreHooks,
  ) {}

  async position(): Promise<LogPosition> {
    return withPageSnapshot(this.path, async (snap) => {
      const builder = new PageMapBuilder(snap.pageSize);
      for await (const chunk of snap.pages(new AbortController().signal)) builder.push(chunk);
      const map = builder.finish();
      return { pageSize: map.pageSize, pageCount: map.pageCount, hashes: map.hashes.toString('base64') };
    });
  }

  /**
   * The pages that differ from the parent's map, read from a live snapshot (no copy of the file).
   * While the WAL still holds every frame written since the parent's snapshot (same file, same WAL
   * salt: no checkpoint restarted it since), only the pages of those frames are read and hashed;
   * otherwise every page is (in the page reader process, so unchanged pages never cross the pipe).
   * The manifest says which (`engineInfo.changedPagesFrom`: 'wal' or 'every page', and
   * `pagesExamined`). Pages are compared by the parent's fast map when it has one (fulls since
   * this format have; sqlite-fast-hash.ts), only changed pages then get a sha256; else by sha256.
   * The new maps are the parent's with the changed pages' hashes, stored as deltas from the chain's
   * full's while that is much smaller, else whole.
   */
  async readChanges(since: LogPosition, sink: PartSink, signal: AbortSignal, stored?: StoredChain): Promise<ChangeBatch> {
    const base = stored?.parent;
    const full = stored?.full;
    const maps = new ChainMaps(base, full);
    const parent = await maps.parentMap(since);
    const parentFast = await maps.parentFastMap(since, parent);
    return withPageSnapshot(this.path, async (snap) => {
      signal.throwIfAborted();
      const { pageSize } = snap;
      if (pageSize !== parent.pageSize) {
        throw new DbBackupError(
          'E_UNSUPPORTED',
          `The page size of ${this.path} changed from ${parent.pageSize} to ${pageSize} bytes (a VACUUM after PRAGMA page_size)${base ? ` since backup ${base.manifest.id}` : ''}; its pages cannot be compared: take a full backup.`,
          { details: { reason: 'page-size', from: parent.pageSize, to: pageSize } },
        );
      }
      // The new maps: the parent's, cut or grown to the new page count, with the changed pages' hashes.
      // A link's maps are its own (read from its parts), so they are updated in place when the page
      // count stays (each page's entry is changed only after it was compared); a full's are the
      // chain's base, copied.
      const ownMaps = base?.manifest.kind !== 'full';
      const hashes = nextHashes(parent, snap.pageCount, ownMaps);
      const fastHashes = parentFast && nextHashes(parentFast.map, snap.pageCount, ownMaps);
      const tally = { changes: 0, added: 0, scan: { examined: 0, walOnly: false } };
      const changed = snap.changedPages(parent, parentFast, walMarkOf((since as Partial<SqlitePosition>).wal), signal);
      await sink.write(
        { name: PAGES_PART, role: 'changes', object: 'main' },
        Readable.from(changedPages(changed, snap.pageCount, parent, { hashes, fastHashes }, tally)),
      );
      if (tally.added !== Math.max(0, snap.pageCount - parent.pageCount)) {
        throw new DbBackupError('E_BACKUP_FAILED', `Reading the changed pages of ${this.path} missed pages it grew by; retry the backup.`);
      }
      const changes = tally.changes;
      const map: PageMap = { pageSize, pageCount: snap.pageCount, hashes };
      const fullMap = await maps.fullMap();
      const delta = fullMap && encodePageMapDelta(map, fullMap.map);
      const stored = await sink.write({ name: PAGE_MAP_PART, role: 'changes', keepLocal: true }, Readable.from(delta ? [delta] : pageMapChunks(map)));
      const fast = parentFast && (await writeFastMap(sink, { key: parentFast.key, map: { pageSize, pageCount: snap.pageCount, hashes: fastHashes! } }, await maps.fullFastMap()));
      const { objects, warnings, engineInfo } = describeSnapshot(snap.db, snap.pageCount * pageSize);
      const to: SqlitePosition = {
        pageSize,
        pageCount: map.pageCount,
        pageMap: stored.name,
        ...(delta ? { mapBase: fullMap.id } : {}),
        ...fast,
        ...(snap.walMark ? { wal: snap.walMark } : {}),
      };
      // How the changed pages were found: only the WAL's since the parent, or every page compared.
      const found = { pagesExamined: tally.scan.examined, changedPagesFrom: tally.scan.walOnly ? 'wal' : 'every page', pagesComparedBy: parentFast ? 'fast hash' : 'sha256' };
      return { from: since, to: { ...to }, consistentAt: snap.consistentAt, changes, objects, warnings, engineInfo: { ...engineInfo, ...found }, serverVersion: snap.serverVersion };
    });
  }

  /** Applies one link onto the target's current state: a snapshot of it, the pages over it, then the session's swap. */
  async applyChanges(parts: PartSource, _until: ChangeLimit | undefined, signal: AbortSignal): Promise<RestoreOutcome> {
    partNamed(parts, PAGES_PART);
    const build = async (file: string) => {
      await takeSnapshot(this.path, file);
      await overlayPages(parts, file);
      // The target's own objects stay; the declared-objects check is restoreChain's (whole chains).
      checkDatabase(file, parts.manifest, 'integrity_check', false);
    };
    return this.hooks.restoreBuilt(build, { clean: true }, parts, signal);
  }

  /** Restores a full and the links after it in one go: the chain is built aside, then swapped in. */
  restoreChain(links: PartSource[], request: RestoreRequest, until: ChangeLimit | undefined, signal: AbortSignal): Promise<RestoreOutcome> {
    return this.hooks.restoreChain(links, request, signal, until);
  }
}

/** The hashes of `map` for a file of `pageCount` pages: its own buffer when it may be changed and fits, else a copy cut or grown. */
function nextHashes(map: PageMap, pageCount: number, mayChange: boolean): Buffer {
  if (mayChange && map.pageCount === pageCount) return map.hashes;
  const hashes = Buffer.alloc(pageCount * HASH_BYTES);
  map.hashes.copy(hashes, 0, 0, Math.min(map.pageCount, pageCount) * HASH_BYTES);
  return hashes;
}

/** A link's fast map, stored as a delta from its full's when that full has one under the same key; its position fields. */
async function writeFastMap(sink: PartSink, fast: FastMap, full: { id: string; fast: FastMap } | undefined): Promise<Pick<SqlitePosition, 'fastMap' | 'fastMapBase'>> {
  const delta = full && full.fast.key.equals(fast.key) ? encodePageMapDelta(fast.map, full.fast.map) : undefined;
  const body = encodeFastMap(fast.key, delta ?? pageMapChunks(fast.map));
  const stored = await sink.write({ name: FAST_MAP_PART, role: 'changes', keepLocal: true }, Readable.from(body));
  return { fastMap: stored.name, ...(delta ? { fastMapBase: full!.id } : {}) };
}

/** The parent's maps and the chain full's maps, each read at most once. */
class ChainMaps {
  private full?: Promise<PageMap>;
  private fullFast?: Promise<FastMap | undefined>;

  constructor(
    private readonly base: PartSource | undefined,
    private readonly fullBackup: PartSource | undefined,
  ) {}

  /** The map the changes are compared with: inline in the position, or the part it names in `base`. */
  async parentMap(since: LogPosition): Promise<PageMap> {
    const p = since as Partial<SqlitePosition> & { hashes?: unknown };
    if (typeof p.hashes === 'string' && typeof p.pageSize === 'number' && validPageSize(p.pageSize)) {
      const hashes = Buffer.from(p.hashes, 'base64');
      return { pageSize: p.pageSize, pageCount: hashes.length / HASH_BYTES, hashes };
    }
    const base = this.base;
    const which = base ? `Backup ${base.manifest.id}` : 'The position';
    if (typeof p.pageMap !== 'string') {
      throw new DbBackupError(
        'E_UNSUPPORTED',
        `${which} holds no SQLite page map (a backup filtered with --tables, or one taken by an older dbbackup), so no changes can be taken against it; take a full backup.`,
        { details: { reason: 'no-page-map' } },
      );
    }
    if (!base) throw new DbBackupError('E_UNSUPPORTED', `The position names page map ${p.pageMap}, but the backup holding it was not given.`);
    const map = await pageMapOf(base, () => this.fullOf(p.mapBase));
    if (base.manifest.kind === 'full') this.full = Promise.resolve(map);
    return map;
  }

  /**
   * The parent's fast map, when it has one (a position given inline has none). It must describe
   * the same pages as `parent`, else the backup is damaged.
   */
  async parentFastMap(since: LogPosition, parent: PageMap): Promise<FastMap | undefined> {
    const p = since as Partial<SqlitePosition> & { hashes?: unknown };
    if (typeof p.hashes === 'string' || !this.base || typeof p.fastMap !== 'string') return undefined;
    const base = this.base;
    const fast = await fastMapOf(base, async () => {
      const full = await this.fullFastOf(p.fastMapBase);
      if (!full) throw new DbBackupError('E_FOREIGN_ARCHIVE', `The fast map of backup ${base.manifest.id} is stored against full ${String(p.fastMapBase)}, which has none; the backup is damaged.`);
      return full;
    });
    if (fast && (fast.map.pageSize !== parent.pageSize || fast.map.pageCount !== parent.pageCount)) {
      throw new DbBackupError('E_FOREIGN_ARCHIVE', `The fast map of backup ${base.manifest.id} does not describe the pages of its page map; the backup is damaged.`);
    }
    if (base.manifest.kind === 'full') this.fullFast = Promise.resolve(fast);
    return fast;
  }

  /** The chain's full fast map, when a full is known and has one. */
  async fullFastMap(): Promise<{ id: string; fast: FastMap } | undefined> {
    const source = this.fullSource();
    if (!source) return undefined;
    const fast = await this.fullFastOf(source.manifest.id);
    return fast && { id: source.manifest.id, fast };
  }

  private fullFastOf(id: string | undefined): Promise<FastMap | undefined> {
    const source = this.fullSource();
    if (!source || source.manifest.id !== id) return Promise.resolve(undefined);
    this.fullFast ??= fastMapOf(source);
    return this.fullFast;
  }

  private fullSource(): PartSource | undefined {
    const source = this.base?.manifest.kind === 'full' ? this.base : this.fullBackup;
    return source?.manifest.kind === 'full' ? source : undefined;
  }

  /** The chain's full map, when a full is known (`base` itself, or the `full` given). */
  async fullMap(): Promise<{ id: string; map: PageMap } | undefined> {
    const source = this.fullSource();
    if (!source) return undefined;
    return { id: source.manifest.id, map: await this.fullOf(source.manifest.id) };
  }

  private fullOf(id: string | undefined): Promise<PageMap> {
    const source = this.base?.manifest.kind === 'full' ? this.base : this.fullBackup;
    if (!source || source.manifest.id !== id) {
      return Promise.reject(new DbBackupError('E_UNSUPPORTED', `The page map of backup ${this.base?.manifest.id ?? '?'} is stored against full ${String(id)}, which was not given; take a full backup.`));
    }
    this.full ??= pageMapOf(source);
    return this.full;
  }
}

/** The pages part: its header, then every page whose hash differs from the parent's (or is new); their hashes go into `hashes`. */
async function* changedPages(
  changed: AsyncGenerator<ChangedPages, ChangeScan>,
  pageCount: number,
  parent: PageMap,
  into: { hashes: Buffer; fastHashes: Buffer | undefined },
  tally: { changes: number; added: number; scan: ChangeScan },
): AsyncGenerator<Buffer> {
  yield pagesHeader(parent.pageSize, pageCount);
  let last = 0;
  for (;;) {
    const next = await changed.next();
    if (next.done) {
      tally.scan = next.value;
      return;
    }
    const { meta, records } = next.value;
    for (let at = 0; at < meta.length; at += CHANGE_META_BYTES) {
      const pgno = meta.readUInt32BE(at);
      if (pgno <= last || pgno > pageCount) throw new DbBackupError('E_BACKUP_FAILED', `The page reader sent page ${pgno} out of order; retry the backup.`);
      last = pgno;
      meta.copy(into.hashes, (pgno - 1) * HASH_BYTES, at + 4, at + 20);
      if (into.fastHashes) meta.copy(into.fastHashes, (pgno - 1) * HASH_BYTES, at + 20, at + 36);
      tally.changes++;
      if (pgno > parent.pageCount) tally.added++;
    }
    // The records as they came, laid out as the part stores them.
    yield* records;
  }
}
