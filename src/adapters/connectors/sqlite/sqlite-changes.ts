import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ChangeBatch, ChangeCapture, ChangeLimit, LogPosition } from '../../../application/ports/change-capture.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import { Database } from './sqlite-file.js';
import { checkDatabase, mapOfFile, overlayPages, PAGE_MAP_PART, PAGES_PART, partNamed, type SqlitePosition } from './sqlite-overlay.js';
import { encodePageMap, hashAt, type PageMap, PageMapBuilder, pageRecord, pagesHeader, readPageMap, validPageSize, HASH_BYTES } from './sqlite-page-map.js';
import { describeObjects, SIZES_UP_TO_BYTES } from './sqlite-schema.js';
import { snapshotFacts, takeSnapshot } from './sqlite-snapshot.js';
import { makeScratchDir } from '../../../infrastructure/scratch.js';

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
    return withSnapshot(this.path, async (file) => {
      const map = await mapOfFile(file, await filePageSize(file));
      return { pageSize: map.pageSize, pageCount: map.pageCount, hashes: map.hashes.toString('base64') };
    });
  }

  async readChanges(since: LogPosition, sink: PartSink, signal: AbortSignal, base?: PartSource): Promise<ChangeBatch> {
    const parent = await parentMap(since, base);
    return withSnapshot(this.path, async (file, snap) => {
      signal.throwIfAborted();
      const pageSize = await filePageSize(file);
      if (pageSize !== parent.pageSize) {
        throw new DbBackupError(
          'E_UNSUPPORTED',
          `The page size of ${this.path} changed from ${parent.pageSize} to ${pageSize} bytes (a VACUUM after PRAGMA page_size)${base ? ` since backup ${base.manifest.id}` : ''}; its pages cannot be compared: take a full backup.`,
          { details: { reason: 'page-size', from: parent.pageSize, to: pageSize } },
        );
      }
      const builder = new PageMapBuilder(pageSize);
      const { size } = await stat(file);
      let changes = 0;
      await sink.write(
        { name: PAGES_PART, role: 'changes', object: 'main' },
        Readable.from(changedPages(file, size / pageSize, parent, builder, () => changes++, signal)),
      );
      const map = builder.finish();
      const stored = await sink.write({ name: PAGE_MAP_PART, role: 'changes' }, Readable.from([encodePageMap(map)]));
      const facts = describeFile(file, size);
      const to: SqlitePosition = { pageSize, pageCount: map.pageCount, pageMap: stored.name };
      return { from: since, to: { ...to }, consistentAt: snap.consistentAt, changes, ...facts, serverVersion: snap.serverVersion };
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

/** The map the changes are compared with: inline in the position, or the part it names in `base`. */
async function parentMap(since: LogPosition, base: PartSource | undefined): Promise<PageMap> {
  const p = since as Partial<SqlitePosition> & { hashes?: unknown };
  if (typeof p.hashes === 'string' && typeof p.pageSize === 'number' && validPageSize(p.pageSize)) {
    const hashes = Buffer.from(p.hashes, 'base64');
    return { pageSize: p.pageSize, pageCount: hashes.length / HASH_BYTES, hashes };
  }
  const which = base ? `Backup ${base.manifest.id}` : 'The position';
  if (typeof p.pageMap !== 'string') {
    throw new DbBackupError(
      'E_UNSUPPORTED',
      `${which} holds no SQLite page map (a backup filtered with --tables, or one taken by an older dbbackup), so no changes can be taken against it; take a full backup.`,
      { details: { reason: 'no-page-map' } },
    );
  }
  if (!base) throw new DbBackupError('E_UNSUPPORTED', `The position names page map ${p.pageMap}, but the backup holding it was not given.`);
  return readPageMap(await base.open(partNamed(base, p.pageMap)), `Part ${p.pageMap} of backup ${base.manifest.id}`);
}

/** The pages part: its header, then every page whose hash differs from the parent's (or is new). */
async function* changedPages(
  file: string,
  pageCount: number,
  parent: PageMap,
  builder: PageMapBuilder,
  counted: () => void,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  yield pagesHeader(parent.pageSize, pageCount);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20, signal })) {
    const out: Buffer[] = [];
    builder.push(chunk as Buffer, (pgno, page, hash) => {
      const old = hashAt(parent, pgno);
      if (old && old.equals(hash)) return;
      out.push(...pageRecord(pgno, page));
      counted();
    });
    if (out.length) yield Buffer.concat(out);
  }
}

async function withSnapshot<T>(path: string, work: (file: string, snap: Awaited<ReturnType<typeof takeSnapshot>>) => Promise<T>): Promise<T> {
  const dir = await makeScratchDir('dbbackup-sqlite-');
  try {
    const file = join(dir, 'snapshot.db');
    return await work(file, await takeSnapshot(path, file));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The page size in a database file's header (bytes 16–17; 1 means 65536). */
export async function filePageSize(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(2);
    await handle.read(buf, 0, 2, 16);
    const raw = buf.readUInt16BE(0);
    return raw === 1 ? 65536 : raw;
  } finally {
    await handle.close();
  }
}

function describeFile(file: string, size: number) {
  const db = new Database(file, { readonly: true });
  try {
    const sized = size <= SIZES_UP_TO_BYTES;
    const { objects, warnings } = describeObjects(db, { sizes: sized });
    return { objects, warnings, engineInfo: snapshotFacts(db, sized) };
  } finally {
    db.close();
  }
}
