import { createReadStream } from 'node:fs';
import { SqliteScratch } from './sqlite-scratch.js';
import { chmod, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { activeProfiler, timeSync } from '../../../application/services/profiling.js';
import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import type { ConnectorCapabilities } from '../../../application/ports/connector-capabilities.js';
import type { DatabaseConnector } from '../../../application/ports/database-connector.js';
import type { DatabaseDiagnosis, DiagnosisRequest } from '../../../application/ports/database-diagnosis.js';
import type { Finding } from '../../../domain/diagnosis.js';
import type { DatabaseSession } from '../../../application/ports/database-session.js';
import type { DumpRequest, DumpResult } from '../../../application/ports/dump.js';
import type { ChangeLimit } from '../../../application/ports/change-capture.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome, RestorePlan, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { sqliteEngine } from './sqlite-engine.js';
import { sqliteGrants } from './sqlite-grants.js';
import { DbBackupError, isNoSpace, noSpaceError } from '../../../domain/errors.js';
import type { Manifest, ObjectEntry } from '../../../domain/manifest.js';
import { sourceNameFrom } from '../../../domain/repository-layout.js';
import { Database, inspectFile, openSource } from './sqlite-file.js';
import { restoreTables } from './sqlite-restore-tables.js';
import { SqliteChangeCapture } from './sqlite-changes.js';
import { assembleChain, checkDatabase, dataPartOf, type SqlitePosition, writeFullMaps } from './sqlite-overlay.js';
import { FastPageHasher } from './sqlite-fast-hash.js';
import { isSegment, replaySegments } from './sqlite-wal-replay.js';
import { SqliteWalCapture } from './sqlite-wal-capture.js';
import { PageMapBuilder } from './sqlite-page-map.js';
import { describeSnapshot, takeSnapshot } from './sqlite-snapshot.js';
import { type EarlyPageReader, withPageSnapshot } from './sqlite-live-snapshot.js';
import { WarmPageReaders } from './sqlite-warm-reader.js';
import { dropUnselected, refuseUnknown } from './sqlite-filter.js';
import { describeObjects, sameName, schemaRows, selectObjects, SIZES_UP_TO_BYTES } from './sqlite-schema.js';
import { SqliteContents } from './sqlite-contents.js';
import { makeScratchDir, sweepTempBeside, tempBeside } from '../../../infrastructure/scratch.js';

export const SQLITE_DATA_PART = 'data/main.0.sqlite';
/** `replicate` lets the WAL start over once it holds this much, all shipped (SQLite's own autocheckpoint is at ~4 MiB too). */
const WAL_CHECKPOINT_BYTES = 4 << 20;

/**
 * SQLite through better-sqlite3. A backup is the online backup API's copy of the database (a
 * consistent snapshot even while other connections write), stored as a plain database file with
 * its page map; incrementals and differentials store the pages that changed (sqlite-changes.ts).
 */
export class SqliteConnector implements DatabaseConnector, DatabaseDiagnosis {
  /** Throwaway restore targets for `verify --deep`. */
  readonly scratch = new SqliteScratch();
  readonly engine: string = sqliteEngine.engine;
  readonly capabilities: ConnectorCapabilities = sqliteEngine.capabilities;
  private readonly warm = new WarmPageReaders();

  async connect(target: ConnectionTarget, purpose?: 'backup' | 'restore'): Promise<DatabaseSession> {
    if (!target.database) throw new DbBackupError('E_USAGE', 'Name the SQLite database file with --file PATH (or --database PATH).');
    const path = resolve(target.database);
    return new SqliteSession(path, purpose === 'backup' ? this.warm.take(path) : undefined);
  }

  /** Starts the page reader of `target`'s next backup session (sqlite-warm-reader.ts). */
  warmUp(target: ConnectionTarget): { release(): Promise<void> } {
    return target.database ? this.warm.start(resolve(target.database)) : { release: async () => undefined };
  }

  defaultSourceName(target: ConnectionTarget): string {
    return sourceNameFrom(basename(target.database ?? 'db'));
  }

  async diagnose(target: ConnectionTarget, request: DiagnosisRequest): Promise<Finding[]> {
    if (!target.database) throw new DbBackupError('E_USAGE', 'Name the SQLite database file with --file PATH (or --database PATH).');
    return (await import('./sqlite-diagnosis.js')).diagnoseSqlite(resolve(target.database), request);
  }

  grants(target?: ConnectionTarget): string {
    return sqliteGrants(target?.database ? resolve(target.database) : undefined);
  }
}

class SqliteSession implements DatabaseSession {
  readonly changes: SqliteChangeCapture;
  readonly continuous: SqliteWalCapture;
  readonly contents: SqliteContents;

  /** `early`: a page reader started ahead for this session (WarmPageReaders), used by its first snapshot. */
  constructor(
    private readonly path: string,
    private early?: Promise<EarlyPageReader | undefined>,
  ) {
    this.contents = new SqliteContents(path);
    this.changes = new SqliteChangeCapture(path, this, () => this.takeEarly());
    this.continuous = new SqliteWalCapture(path, {
      checkpointBytes: WAL_CHECKPOINT_BYTES,
      writeSnapshot: (snapshot, sink) => writeSnapshotParts(path, snapshot, { kind: 'full', parallel: 1 }, sink),
    });
  }

  /** The page reader started ahead, once. */
  private async takeEarly(): Promise<EarlyPageReader | undefined> {
    const early = this.early;
    this.early = undefined;
    return early;
  }

  async test(): Promise<void> {
    const db = await openSource(this.path, { probe: true });
    db.close();
  }

  async inspect(filter: { tables?: string[]; excludeTables?: string[] }): Promise<ObjectEntry[]> {
    const db = await openSource(this.path);
    try {
      const { keep, unknown } = selectObjects(schemaRows(db), filter.tables, filter.excludeTables);
      refuseUnknown(unknown, this.path);
      const { size } = await stat(this.path);
      const { objects: all } = describeObjects(db, { sizes: size <= SIZES_UP_TO_BYTES });
      return isFiltered(filter) ? all.filter((o) => keep.has(o.name)) : all;
    } finally {
      db.close();
    }
  }

  /**
   * An unfiltered full reads the live database (withPageSnapshot: in WAL mode no copy of the file
   * is made) and records its page map, the position incrementals compare with. A filtered one is
   * copied with the backup API, trimmed and VACUUMed (writeSnapshotParts): it records no page map
   * (its pages are not the source's), so it cannot be a parent.
   */
  async dump(request: DumpRequest, sink: PartSink, signal: AbortSignal): Promise<DumpResult> {
    if (!isFiltered(request)) return this.dumpLive(sink, signal);
    const dir = await makeScratchDir('dbbackup-sqlite-');
    const snapshot = join(dir, 'snapshot.db');
    try {
      const { serverVersion, consistentAt } = await takeSnapshot(this.path, snapshot);
      signal.throwIfAborted();
      return { serverVersion, consistentAt, ...(await writeSnapshotParts(this.path, snapshot, request, sink)) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async dumpLive(sink: PartSink, signal: AbortSignal): Promise<DumpResult> {
    // The maps are built in files there (16 bytes a page each), not in memory.
    const spill = await makeScratchDir('dbbackup-sqlite-maps-');
    try {
      return await this.dumpLiveInto(sink, signal, spill);
    } finally {
      await rm(spill, { recursive: true, force: true });
    }
  }

  private async dumpLiveInto(sink: PartSink, signal: AbortSignal, spill: string): Promise<DumpResult> {
    const early = await this.takeEarly();
    return withPageSnapshot(this.path, async (snap) => {
      signal.throwIfAborted();
      const size = snap.pageCount * snap.pageSize;
      const { objects, warnings, schema, engineInfo } = describeSnapshot(snap.db, size, snap.journalMode);
      await sink.write({ name: 'schema.sql', role: 'schema' }, Readable.from([Buffer.from(schema, 'utf8')]));
      const map = new PageMapBuilder(snap.pageSize, FastPageHasher.keyIfAvailable(snap.pageSize), spill);
      await sink.write({ name: SQLITE_DATA_PART, role: 'data', object: 'main', rawSize: size }, Readable.from(hashingPages(snap.pages(signal), map)));
      const logPosition: SqlitePosition = { ...(await writeFullMaps(sink, map)), ...(snap.walMark ? { wal: snap.walMark } : {}) };
      return { serverVersion: snap.serverVersion, consistentAt: snap.consistentAt, logPosition: { ...logPosition }, objects, warnings, engineInfo };
    }, early);
  }

  async planRestore(manifest: Manifest, request: RestoreRequest): Promise<RestorePlan> {
    const state = await inspectFile(this.path);
    const objects = manifest.objects.filter((o) => o.type === 'table' || o.type === 'virtual table' || o.type === 'view');
    if (request.tables) {
      const unknown = request.tables.filter((t) => !objects.some((o) => sameName(o.name, t)));
      if (unknown.length) {
        throw new DbBackupError(
          'E_USAGE',
          `Backup ${manifest.id} has no table or view ${unknown.map((u) => `"${u}"`).join(', ')}; it has: ${objects.map((o) => o.name).join(', ')}.`,
        );
      }
    }
    const chosen = request.tables ? objects.filter((o) => request.tables!.some((t) => sameName(o.name, t))) : objects;
    const warnings: string[] = [];
    const conflict = (name: string) => (request.tables ? state.objects.some((o) => sameName(o, name)) : !state.empty);
    if (!state.empty && !request.clean && (!request.tables || chosen.some((o) => conflict(o.name)))) {
      warnings.push(`${this.path} is not empty; the restore will refuse to run without --clean.`);
    }
    if (state.exists && !state.isSqlite) warnings.push(`${this.path} is not a SQLite database; --clean would replace it.`);
    return {
      target: this.path,
      targetExists: state.exists,
      targetEmpty: state.empty,
      effect: request.tables ? 'merge' : state.exists && !state.empty ? 'replace' : 'create',
      items: chosen.map((o) => ({
        object: o.name,
        type: o.type,
        rows: o.rows,
        bytes: o.rawBytes ?? 0,
        action: conflict(o.name) ? (request.clean ? 'replace' : 'skip') : 'create',
      })),
      warnings,
    };
  }

  async restore(parts: PartSource, request: RestoreRequest, signal: AbortSignal): Promise<RestoreOutcome> {
    return this.restoreChain([parts], request, signal);
  }

  /**
   * Restores a full and the links after it: the database is built aside (see assembleChain; log
   * segments replayed after the page links up to `until`, see buildWithSegments), then put in place.
   */
  async restoreChain(links: PartSource[], request: RestoreRequest, signal: AbortSignal, until?: ChangeLimit): Promise<RestoreOutcome> {
    const pageLinks = links.filter((l) => !isSegment(l));
    const last = pageLinks.at(-1)!;
    dataPartOf(links[0]!);
    let point: string | undefined;
    const build = async (file: string) => {
      point = await buildWithSegments(pageLinks, links.filter(isSegment), file, until?.time, signal, request.integrityCheck !== false);
    };
    if (request.tables) {
      const scratch = await makeScratchDir('dbbackup-sqlite-');
      try {
        const file = join(scratch, 'snapshot.db');
        await build(file);
        const tables = request.tables;
        const outcome = await this.intoPrivateFile(() => restoreTables(file, this.path, tables, request.clean, last.manifest));
        const unchecked = request.integrityCheck === false ? { warnings: [...(outcome.warnings ?? []), UNCHECKED] } : {};
        return { ...outcome, ...unchecked, ...(point ? { point } : {}) };
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    }
    const outcome = await this.restoreBuilt(build, request, last, signal);
    const unchecked = request.integrityCheck === false ? { warnings: [...(outcome.warnings ?? []), UNCHECKED] } : {};
    return { ...outcome, ...unchecked, ...(point ? { point } : {}) };
  }

  /** Puts the database `build` writes in place of the target, which must be empty unless `request.clean`. */
  async restoreBuilt(build: (file: string) => Promise<void>, request: RestoreRequest, objectsFrom: PartSource, _signal: AbortSignal): Promise<RestoreOutcome> {
    const state = await inspectFile(this.path);
    if (!state.empty && !request.clean) {
      throw new DbBackupError(
        'E_TARGET_EXISTS',
        `${this.path} already exists and is not empty; pass --clean to replace it, or restore to a new file.`,
      );
    }
    const parent = await stat(dirname(this.path)).catch(() => undefined);
    if (!parent?.isDirectory()) throw new DbBackupError('E_NOT_FOUND', `The folder ${dirname(this.path)} does not exist; create it first.`);
    // A killed restore's file built aside (and its -journal) goes now; a copy it stopped in the middle
    // of was rolled back by inspectFile above.
    await sweepTempBeside(this.path, true).catch(() => undefined);
    const temp = tempBeside(this.path, true);
    try {
      await build(temp).catch((err: unknown) => {
        throw isNoSpace(err) ? noSpaceError(err, `the restored database beside ${this.path}`, `free space in ${dirname(this.path)} (a restore builds the new file beside the target before it replaces it).`) : err;
      });
      // The restored file keeps the mode of the one it replaces (0600 when new, from the build).
      if (state.exists) await chmod(temp, (await stat(this.path)).mode & 0o7777);
      if (!state.exists || (state.isSqlite && state.objects.length === 0 && !(await hasSidecars(this.path)))) {
        await rm(`${this.path}-wal`, { force: true });
        await rm(`${this.path}-shm`, { force: true });
        await rename(temp, this.path);
      } else if (state.isSqlite) {
        await replaceInPlace(temp, this.path);
      } else {
        await rename(temp, this.path);
      }
    } finally {
      for (const f of [temp, `${temp}-wal`, `${temp}-shm`]) await rm(f, { force: true });
    }
    const objects = objectsFrom.manifest.objects.filter((o) => o.type === 'table' || o.type === 'virtual table');
    return { objects: objects.map((o) => o.name), rows: objects.reduce((n, o) => n + (o.rows ?? 0), 0) };
  }

  /**
   * Runs `restore` into this.path, created first with mode 0600 when it does not exist (SQLite would
   * create it readable by everyone); a file created here is removed again if the restore fails.
   */
  private async intoPrivateFile(restore: () => RestoreOutcome): Promise<RestoreOutcome> {
    // An existing file, or one that cannot be made here, is left to restoreTables (and its errors).
    const created = await writeFile(this.path, '', { mode: 0o600, flag: 'wx' }).then(
      () => true,
      () => false,
    );
    try {
      return restore();
    } catch (err) {
      if (created) await rm(this.path, { force: true });
      throw err;
    }
  }

  async close(): Promise<void> {}
}

/** What a restore with --no-integrity-check says. */
const UNCHECKED = "SQLite's integrity_check was skipped (--no-integrity-check): damage in the restored database would go unnoticed.";

/**
 * Builds the database of a chain whose page links (a full, a differential, incrementals) may be
 * followed by log segments: the page links as assembleChain does, then every commit of the
 * segments up to `until`, then SQLite's integrity_check on the result (once: after the segments
 * when there are any; none when `check` is false). Returns the instant of the last commit
 * replayed (undefined without segments: the page links' own point).
 */
async function buildWithSegments(pageLinks: PartSource[], segments: PartSource[], file: string, until: Date | undefined, signal: AbortSignal, check: boolean): Promise<string | undefined> {
  await assembleChain(pageLinks, file, signal, check && segments.length === 0);
  if (segments.length === 0) return undefined;
  const scratch = await makeScratchDir('dbbackup-sqlite-');
  try {
    const reached = await replaySegments(segments, file, scratch, until, signal);
    // Objects a replayed commit created are not declared anywhere: SQLite's own check is the proof here.
    checkDatabase(file, segments.at(-1)!.manifest, check ? 'integrity_check' : 'none', false);
    return reached.lastCommitAt ?? pageLinks.at(-1)!.manifest.consistentAt;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Writes a snapshot file's parts (schema, the database file, and for an unfiltered snapshot its
 * page map, the position incrementals compare with); `path` is the source, named in warnings.
 */
export async function writeSnapshotParts(path: string, snapshot: string, request: DumpRequest, sink: PartSink): Promise<Omit<DumpResult, 'serverVersion' | 'consistentAt'>> {
  const { size } = await stat(snapshot);
  const { objects, warnings, schema, engineInfo } = prepareSnapshot(path, snapshot, request, size);
  await sink.write({ name: 'schema.sql', role: 'schema' }, Readable.from([Buffer.from(schema, 'utf8')]));
  const pageSize = engineInfo.pageSize as number;
  const map = isFiltered(request) ? undefined : new PageMapBuilder(pageSize, FastPageHasher.keyIfAvailable(pageSize));
  await sink.write({ name: SQLITE_DATA_PART, role: 'data', object: 'main', rawSize: (await stat(snapshot)).size }, Readable.from(hashing(snapshot, map)));
  const logPosition: SqlitePosition | null = map ? await writeFullMaps(sink, map) : null;
  return { logPosition: logPosition && { ...logPosition }, objects, warnings, engineInfo };
}

/**
 * Applies table filters to the snapshot (drop + VACUUM) and reads what the manifest records:
 * exact row counts always (count(*) walks the smallest b-tree of each table), bytes per table
 * only for files up to SIZES_UP_TO_BYTES (dbstat reads every page: on large files it cost as
 * much as the copy itself).
 */
function prepareSnapshot(path: string, snapshot: string, request: DumpRequest, size: number) {
  const filtered = isFiltered(request);
  // No mmap here although scans would be a third faster: mapped pages count as the process's
  // resident memory, which must not grow with the database's size.
  const db = new Database(snapshot, { readonly: !filtered });
  try {
    const filterWarnings = filtered ? dropUnselected(db, request, path) : [];
    const described = describeSnapshot(db, size);
    return { ...described, warnings: [...filterWarnings, ...described.warnings] };
  } finally {
    db.close();
  }
}

/**
 * Replaces a database that has content through the backup API, which takes the target's locks
 * and handles its WAL. A WAL target is switched to rollback mode first: the backup API cannot
 * write into a WAL database of another page size, and the copy then brings the backup's own
 * journal mode (its header) with it.
 */
async function replaceInPlace(snapshot: string, target: string): Promise<void> {
  const dest = new Database(target);
  try {
    dest.pragma('busy_timeout = 10000');
    if (dest.pragma('journal_mode', { simple: true }) === 'wal' && dest.pragma('journal_mode = DELETE', { simple: true }) === 'wal') {
      throw new DbBackupError('E_RESTORE_FAILED', `${target} is open in another program (it stays in WAL mode); close it and retry.`);
    }
  } finally {
    dest.close();
  }
  const db = new Database(snapshot, { readonly: true });
  try {
    await db.backup(target, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
}

async function hasSidecars(path: string): Promise<boolean> {
  return (await stat(`${path}-wal`).catch(() => undefined)) !== undefined;
}

/** The file's bytes, fed to `map` (when given) as they pass. */
async function* hashing(file: string, map: PageMapBuilder | undefined): AsyncGenerator<Buffer> {
  const profiler = activeProfiler();
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    if (map) timeSync('parse', (chunk as Buffer).length, () => map.push(chunk as Buffer), profiler);
    yield chunk as Buffer;
  }
}

function isFiltered(f: { tables?: string[]; excludeTables?: string[] }): boolean {
  return f.tables !== undefined || f.excludeTables !== undefined;
}

/** The snapshot's pages, fed to `map` as they pass. */
async function* hashingPages(pages: AsyncIterable<Buffer>, map: PageMapBuilder): AsyncGenerator<Buffer> {
  const profiler = activeProfiler();
  for await (const chunk of pages) {
    timeSync('parse', chunk.length, () => map.push(chunk), profiler);
    yield chunk;
  }
}
