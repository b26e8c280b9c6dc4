import { copyFile, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { makeScratchDir } from '../../../infrastructure/scratch.js';
import type { ChangeBatch, ChangeCapture, ChangeLimit, LogPosition, StoredChain } from '../../../application/ports/change-capture.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import { checkDatabase, FAST_MAP_PART, overlayPages, PAGE_MAP_PART, PAGES_PART, partNamed, type SqlitePosition } from './sqlite-overlay.js';
import { EarlyPageReader, isSmallDatabase, walMarkOf, withPageSnapshot } from './sqlite-live-snapshot.js';
import { EntryWrites, mapFileOf, type MapFile, mapPartBody, storeFastMap, storePageMap } from './sqlite-map-file.js';
import { PageMapBuilder, pagesHeader, validPageSize, HASH_BYTES } from './sqlite-page-map.js';
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
    /** A page reader its session started ahead (WarmPageReaders), handed out once. */
    private readonly early: () => Promise<EarlyPageReader | undefined> = async () => undefined,
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
    const dir = await makeScratchDir('dbbackup-sqlite-maps-');
    // The page reader process boots while the parent's maps are read (both take a tenth of a second
    // or so), when the session did not start it earlier still.
    const reader = (await this.early()) ?? ((await isSmallDatabase(this.path)) ? undefined : new EarlyPageReader(this.path));
    try {
      return await this.readChangesWith(since, sink, signal, new ChainMaps(stored?.parent, stored?.full, dir), reader);
    } finally {
      await reader?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async readChangesWith(since: LogPosition, sink: PartSink, signal: AbortSignal, maps: ChainMaps, reader: EarlyPageReader | undefined): Promise<ChangeBatch> {
    const base = maps.base;
    const { parent, parentFast } = await maps.parentMaps(since);
    const compared = parentFast ?? parent!;
    // With a keyed fast map the link records no sha256 page map (format 4): its changed pages are
    // not sha256-hashed at all. DBBACKUP_SQLITE_LINK_SHA256=1 writes one as format 3 did (tests of
    // chains written the old way).
    const pageMap = parent && (!parentFast || process.env.DBBACKUP_SQLITE_LINK_SHA256 === '1') ? parent : undefined;
    // The chain full's maps (what the new maps are stored as deltas against) are fetched while the
    // pages are compared, not after: they are needed only once the pages part is written.
    const fullMaps = { map: pageMap ? maps.fullMap() : undefined, fast: parentFast ? maps.fullFastMap() : undefined };
    for (const early of [fullMaps.map, fullMaps.fast]) early?.catch(() => undefined);
    return withPageSnapshot(this.path, async (snap) => {
      signal.throwIfAborted();
      const { pageSize } = snap;
      if (pageSize !== compared.pageSize) {
        throw new DbBackupError(
          'E_UNSUPPORTED',
          `The page size of ${this.path} changed from ${compared.pageSize} to ${pageSize} bytes (a VACUUM after PRAGMA page_size)${base ? ` since backup ${base.manifest.id}` : ''}; its pages cannot be compared: take a full backup.`,
          { details: { reason: 'page-size', from: compared.pageSize, to: pageSize } },
        );
      }
      // The new maps are the parent's files (private copies), cut or grown to the new page count,
      // with the changed pages' hashes written in as they come: a page's entry is rewritten only
      // after it was compared, and the comparer reads the map only forward.
      const files = await MapUpdate.open(pageMap, parentFast, snap.pageCount);
      const tally = { changes: 0, added: 0, scan: { examined: 0, walOnly: false } };
      try {
        const changed = snap.changedPages({ ...compared, pageCount: Math.min(compared.pageCount, snap.pageCount) }, walMarkOf((since as Partial<SqlitePosition>).wal), signal, pageMap !== undefined);
        await sink.write({ name: PAGES_PART, role: 'changes', object: 'main' }, Readable.from(changedPages(changed, snap.pageCount, compared, files, tally)));
        await files.flush();
      } finally {
        await files.close();
      }
      if (tally.added !== Math.max(0, snap.pageCount - compared.pageCount)) {
        throw new DbBackupError('E_BACKUP_FAILED', `Reading the changed pages of ${this.path} missed pages it grew by; retry the backup.`);
      }
      const changes = tally.changes;
      const mapFields = pageMap ? await writePageMap(sink, { ...pageMap, pageCount: snap.pageCount }, await fullMaps.map, maps.dir) : {};
      const fast = parentFast && (await writeFastMap(sink, { ...parentFast, pageCount: snap.pageCount }, await fullMaps.fast, maps.dir));
      const { objects, warnings, engineInfo } = describeSnapshot(snap.db, snap.pageCount * pageSize, snap.journalMode);
      const to: SqlitePosition = {
        pageSize,
        pageCount: snap.pageCount,
        ...mapFields,
        ...fast,
        ...(snap.walMark ? { wal: snap.walMark } : {}),
      };
      // How the changed pages were found: only the WAL's since the parent, or every page compared.
      const found = { pagesExamined: tally.scan.examined, changedPagesFrom: tally.scan.walOnly ? 'wal' : 'every page', pagesComparedBy: parentFast ? 'fast hash' : 'sha256' };
      return { from: since, to: { ...to }, consistentAt: snap.consistentAt, changes, objects, warnings, engineInfo: { ...engineInfo, ...found }, serverVersion: snap.serverVersion };
    }, reader);
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

/** The parent's map files, opened for the changed pages' hashes; cut or grown to the new page count. */
class MapUpdate {
  private constructor(
    private readonly handles: FileHandle[],
    readonly hashes: EntryWrites | undefined,
    readonly fastHashes: EntryWrites | undefined,
  ) {}

  /** `parent` (the sha256 page map) is left out when the link records none. */
  static async open(parent: MapFile | undefined, fast: MapFile | undefined, pageCount: number): Promise<MapUpdate> {
    const handles: (FileHandle | undefined)[] = [];
    try {
      for (const file of [parent, fast]) {
        const handle = file && (await open(file.path, 'r+'));
        handles.push(handle);
        await handle?.truncate(pageCount * HASH_BYTES);
      }
    } catch (err) {
      for (const h of handles) await h?.close();
      throw err;
    }
    const [a, b] = handles;
    return new MapUpdate(handles.filter((h) => h !== undefined), a && new EntryWrites(a, pageCount), b && new EntryWrites(b, pageCount));
  }

  async flush(): Promise<void> {
    await this.hashes?.flush();
    await this.fastHashes?.flush();
  }

  async close(): Promise<void> {
    for (const h of this.handles) await h.close();
  }
}

/** A link's sha256 page map, stored as a delta from its full's while that is much smaller; its position fields. */
async function writePageMap(sink: PartSink, map: MapFile, full: { id: string; map: MapFile } | undefined, dir: string): Promise<Pick<SqlitePosition, 'pageMap' | 'mapBase'>> {
  const body = await mapPartBody(map, full?.map, join(dir, 'delta.map'));
  const stored = await sink.write({ name: PAGE_MAP_PART, role: 'changes', keepLocal: true }, Readable.from(body.chunks));
  return { pageMap: stored.name, ...(body.delta ? { mapBase: full!.id } : {}) };
}

/** A link's fast map, stored as a delta from its full's when that full has one under the same key; its position fields. */
async function writeFastMap(sink: PartSink, fast: MapFile, full: { id: string; fast: MapFile } | undefined, dir: string): Promise<Pick<SqlitePosition, 'fastMap' | 'fastMapBase'>> {
  const sameKey = full && full.fast.key && fast.key && full.fast.key.equals(fast.key);
  const body = await mapPartBody(fast, sameKey ? full.fast : undefined, join(dir, 'delta.fast'));
  const stored = await sink.write({ name: FAST_MAP_PART, role: 'changes', keepLocal: true }, Readable.from(body.chunks));
  return { fastMap: stored.name, ...(body.delta ? { fastMapBase: full!.id } : {}) };
}

/**
 * The page map backup `backup` recorded (a full's, or a link's: then `full`, its chain's full,
 * gives the map a delta is stored against), read from its parts into a file under `dir` (a window
 * at a time: memory independent of the database's size); undefined when it recorded none (a
 * backup filtered with --tables, or an older one).
 */
export async function recordedMap(backup: PartSource, full: PartSource | undefined, dir: string): Promise<MapFile | undefined> {
  const p = backup.manifest.logPosition as Partial<SqlitePosition> | null;
  if (typeof p?.pageMap === 'string') return new ChainMaps(backup, full, dir).parentMap(backup.manifest.logPosition as LogPosition);
  // A format 4 link records only its fast map (a MapFile with a key).
  if (typeof p?.fastMap !== 'string') return undefined;
  return (await new ChainMaps(backup, full, dir).parentMaps(backup.manifest.logPosition as LogPosition)).parentFast;
}

/**
 * The parent's maps and the chain full's maps, each read at most once, into files in `dir`: the
 * parent's are private copies (the new maps are made from them in place), the full's stay as read.
 */
class ChainMaps {
  private full?: Promise<MapFile>;
  private fullFast?: Promise<MapFile | undefined>;

  constructor(
    readonly base: PartSource | undefined,
    private readonly fullBackup: PartSource | undefined,
    readonly dir: string,
  ) {}

  /**
   * The parent's maps: its sha256 page map (undefined for a link that recorded only a fast map,
   * format 4) and its fast map (undefined when it has none); at least one of them.
   */
  async parentMaps(since: LogPosition): Promise<{ parent?: MapFile; parentFast?: MapFile }> {
    const p = since as Partial<SqlitePosition> & { hashes?: unknown };
    if (typeof p.hashes !== 'string' && typeof p.pageMap !== 'string' && typeof p.fastMap === 'string' && this.base) {
      if (typeof p.pageSize !== 'number' || !validPageSize(p.pageSize) || typeof p.pageCount !== 'number') {
        throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${this.base.manifest.id} records no valid page size and count; it is damaged.`);
      }
      const parentFast = await this.parentFastMap(since, { pageSize: p.pageSize, pageCount: p.pageCount });
      return { parentFast };
    }
    const parent = await this.parentMap(since);
    return { parent, parentFast: await this.parentFastMap(since, parent) };
  }

  /** The map the changes are compared with: inline in the position, or the part it names in `base`. */
  async parentMap(since: LogPosition): Promise<MapFile> {
    const p = since as Partial<SqlitePosition> & { hashes?: unknown };
    const path = join(this.dir, 'parent.map');
    if (typeof p.hashes === 'string' && typeof p.pageSize === 'number' && validPageSize(p.pageSize)) {
      return mapFileOf(Buffer.from(p.hashes, 'base64'), p.pageSize, path);
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
    if (base.manifest.kind === 'full') return privateCopy(await this.fullOf(base.manifest.id), path);
    return storePageMap(await openMapPart(base, p.pageMap), `Part ${p.pageMap} of backup ${base.manifest.id}`, path, () => this.fullOf(p.mapBase));
  }

  /**
   * The parent's fast map, when it has one (a position given inline has none). It must describe
   * the same pages as `parent` (its page map, or its position), else the backup is damaged.
   */
  private async parentFastMap(since: LogPosition, parent: Pick<MapFile, 'pageSize' | 'pageCount'>): Promise<MapFile | undefined> {
    const p = since as Partial<SqlitePosition> & { hashes?: unknown };
    if (typeof p.hashes === 'string' || !this.base || typeof p.fastMap !== 'string') return undefined;
    const base = this.base;
    const path = join(this.dir, 'parent.fast');
    let fast: MapFile | undefined;
    if (base.manifest.kind === 'full') {
      const full = await this.fullFastOf(base.manifest.id);
      fast = full && (await privateCopy(full, path));
    } else {
      fast = await storeFastMap(await openMapPart(base, p.fastMap), `Part ${p.fastMap} of backup ${base.manifest.id}`, path, async () => {
        const full = await this.fullFastOf(p.fastMapBase);
        if (!full) throw new DbBackupError('E_FOREIGN_ARCHIVE', `The fast map of backup ${base.manifest.id} is stored against full ${String(p.fastMapBase)}, which has none; the backup is damaged.`);
        return full;
      });
    }
    if (fast && (fast.pageSize !== parent.pageSize || fast.pageCount !== parent.pageCount)) {
      throw new DbBackupError('E_FOREIGN_ARCHIVE', `The fast map of backup ${base.manifest.id} does not describe the pages of its page map; the backup is damaged.`);
    }
    return fast;
  }

  /** The chain's full fast map, when a full is known and has one. */
  async fullFastMap(): Promise<{ id: string; fast: MapFile } | undefined> {
    const source = this.fullSource();
    if (!source) return undefined;
    const fast = await this.fullFastOf(source.manifest.id);
    return fast && { id: source.manifest.id, fast };
  }

  private fullFastOf(id: string | undefined): Promise<MapFile | undefined> {
    const source = this.fullSource();
    if (!source || source.manifest.id !== id) return Promise.resolve(undefined);
    this.fullFast ??= (async () => {
      const p = source.manifest.logPosition as Partial<SqlitePosition> | null;
      if (typeof p?.fastMap !== 'string') return undefined;
      return storeFastMap(await openMapPart(source, p.fastMap), `Part ${p.fastMap} of backup ${source.manifest.id}`, join(this.dir, 'full.fast'));
    })();
    return this.fullFast;
  }

  private fullSource(): PartSource | undefined {
    const source = this.base?.manifest.kind === 'full' ? this.base : this.fullBackup;
    return source?.manifest.kind === 'full' ? source : undefined;
  }

  /** The chain's full map, when a full is known (`base` itself, or the `full` given). */
  async fullMap(): Promise<{ id: string; map: MapFile } | undefined> {
    const source = this.fullSource();
    if (!source) return undefined;
    return { id: source.manifest.id, map: await this.fullOf(source.manifest.id) };
  }

  private fullOf(id: string | undefined): Promise<MapFile> {
    const source = this.base?.manifest.kind === 'full' ? this.base : this.fullBackup;
    if (!source || source.manifest.id !== id) {
      return Promise.reject(new DbBackupError('E_UNSUPPORTED', `The page map of backup ${this.base?.manifest.id ?? '?'} is stored against full ${String(id)}, which was not given; take a full backup.`));
    }
    this.full ??= (async () => {
      const p = source.manifest.logPosition as Partial<SqlitePosition> | null;
      const name = typeof p?.pageMap === 'string' ? p.pageMap : PAGE_MAP_PART;
      return storePageMap(await openMapPart(source, name), `Part ${name} of backup ${source.manifest.id}`, join(this.dir, 'full.map'));
    })();
    return this.full;
  }
}

/** A part of `parts` holding a map, opened. */
async function openMapPart(parts: PartSource, name: string): Promise<Readable> {
  return parts.open(partNamed(parts, name));
}

/** A copy of a map file at `path`, to be changed in place. */
async function privateCopy(map: MapFile, path: string): Promise<MapFile> {
  await copyFile(map.path, path);
  return { ...map, path };
}

/** The pages part: its header, then every page whose hash differs from the parent's (`parent`: the map compared with), or is new; their hashes go into `into`. */
async function* changedPages(
  changed: AsyncGenerator<ChangedPages, ChangeScan>,
  pageCount: number,
  parent: MapFile,
  into: MapUpdate,
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
      // Awaited only when a window moves (every WRITE_WINDOW pages at most): no await per page.
      const hashes = into.hashes;
      if (hashes) {
        if (!hashes.holds(pgno)) await hashes.move(pgno);
        hashes.put(pgno, meta, at + 4);
      }
      const fast = into.fastHashes;
      if (fast) {
        if (!fast.holds(pgno)) await fast.move(pgno);
        fast.put(pgno, meta, at + 20);
      }
      tally.changes++;
      if (pgno > parent.pageCount) tally.added++;
    }
    // The records as they came, laid out as the part stores them.
    yield* records;
  }
}
