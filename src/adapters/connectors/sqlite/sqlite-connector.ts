import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import type { ConnectorCapabilities } from '../../../application/ports/connector-capabilities.js';
import type { DatabaseConnector } from '../../../application/ports/database-connector.js';
import type { DatabaseSession } from '../../../application/ports/database-session.js';
import type { DumpRequest, DumpResult } from '../../../application/ports/dump.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome, RestorePlan, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { sqliteEngine } from './sqlite-engine.js';
import { DbBackupError } from '../../../domain/errors.js';
import { syncFile } from '../../../infrastructure/files.js';
import type { Manifest, ObjectEntry, PartEntry } from '../../../domain/manifest.js';
import { sourceNameFrom } from '../../../domain/repository-layout.js';
import { Database, inspectFile, openSource } from './sqlite-file.js';
import { restoreTables } from './sqlite-restore-tables.js';
import { declarableRows, refuseUndeclared } from './sqlite-schema-check.js';
import { dropUnselected, refuseUnknown } from './sqlite-filter.js';
import { describeObjects, sameName, schemaRows, schemaSql, selectObjects, SIZES_UP_TO_BYTES } from './sqlite-schema.js';

export const SQLITE_DATA_PART = 'data/main.0.sqlite';

/**
 * SQLite through better-sqlite3. A backup is the online backup API's copy of the database (a
 * consistent snapshot even while other connections write), stored as a plain database file.
 */
export class SqliteConnector implements DatabaseConnector {
  readonly engine: string = sqliteEngine.engine;
  readonly capabilities: ConnectorCapabilities = sqliteEngine.capabilities;

  async connect(target: ConnectionTarget): Promise<DatabaseSession> {
    if (!target.database) throw new DbBackupError('E_USAGE', 'Name the SQLite database file with --file PATH (or --database PATH).');
    return new SqliteSession(resolve(target.database));
  }

  defaultSourceName(target: ConnectionTarget): string {
    return sourceNameFrom(basename(target.database ?? 'db'));
  }
}

class SqliteSession implements DatabaseSession {
  constructor(private readonly path: string) {}

  async test(): Promise<void> {
    const db = await openSource(this.path);
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

  async dump(request: DumpRequest, sink: PartSink, signal: AbortSignal): Promise<DumpResult> {
    const dir = await mkdtemp(join(tmpdir(), 'dbbackup-sqlite-'));
    const snapshot = join(dir, 'snapshot.db');
    try {
      const source = await openSource(this.path);
      let consistentAt: Date;
      let serverVersion: string;
      try {
        serverVersion = (source.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
        // After the first step, copy everything that remains in one step: one read transaction,
        // so the copy is consistent and finishes even under a steady stream of writes.
        await source.backup(snapshot, { progress: () => 0x7fffffff });
        consistentAt = new Date();
      } catch (err) {
        const hint = snapshotHint(String((err as { code?: unknown }).code), dir);
        throw new DbBackupError('E_BACKUP_FAILED', `Could not snapshot ${this.path}: ${(err as Error).message}.${hint}`, { cause: err });
      } finally {
        source.close();
      }
      signal.throwIfAborted();
      const { size } = await stat(snapshot);
      const { objects, warnings, schema, engineInfo } = this.prepareSnapshot(snapshot, request, size);
      await sink.write({ name: 'schema.sql', role: 'schema' }, Readable.from([Buffer.from(schema, 'utf8')]));
      await sink.write(
        { name: SQLITE_DATA_PART, role: 'data', object: 'main', rawSize: (await stat(snapshot)).size },
        createReadStream(snapshot, { highWaterMark: 1 << 20 }),
      );
      return { serverVersion, consistentAt, logPosition: null, objects, warnings, engineInfo };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Applies table filters to the snapshot (drop + VACUUM) and reads what the manifest records:
   * exact row counts always (count(*) walks the smallest b-tree of each table), bytes per table
   * only for files up to SIZES_UP_TO_BYTES (dbstat reads every page: on large files it cost as
   * much as the copy itself).
   */
  private prepareSnapshot(snapshot: string, request: DumpRequest, size: number) {
    const filtered = isFiltered(request);
    // No mmap here although scans would be a third faster: mapped pages count as the process's
    // resident memory, which must not grow with the database's size.
    const db = new Database(snapshot, { readonly: !filtered });
    try {
      const filterWarnings = filtered ? dropUnselected(db, request, this.path) : [];
      const sized = size <= SIZES_UP_TO_BYTES;
      const { objects, warnings: countWarnings } = describeObjects(db, { sizes: sized });
      const warnings = [...filterWarnings, ...countWarnings];
      const engineInfo = {
        pageSize: db.pragma('page_size', { simple: true }),
        pageCount: db.pragma('page_count', { simple: true }),
        encoding: db.pragma('encoding', { simple: true }),
        userVersion: db.pragma('user_version', { simple: true }),
        applicationId: db.pragma('application_id', { simple: true }),
        journalMode: db.pragma('journal_mode', { simple: true }),
        autoVacuum: db.pragma('auto_vacuum', { simple: true }),
        objectSizes: sized ? 'dbstat' : `not measured (file over ${SIZES_UP_TO_BYTES >> 20} MiB)`,
      };
      const settings = {
        page_size: engineInfo.pageSize,
        auto_vacuum: engineInfo.autoVacuum,
        encoding: engineInfo.encoding,
        user_version: engineInfo.userVersion,
        application_id: engineInfo.applicationId,
      };
      return { objects, warnings, schema: schemaSql(schemaRows(db), settings), engineInfo };
    } finally {
      db.close();
    }
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
    const data = parts.manifest.parts.find((p) => p.role === 'data' && p.object === 'main');
    if (!data) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${parts.manifest.id} has no SQLite database part.`);
    if (request.tables) {
      const scratch = await mkdtemp(join(tmpdir(), 'dbbackup-sqlite-'));
      try {
        const file = join(scratch, 'snapshot.db');
        await this.fetch(parts, data, file, signal);
        const tables = request.tables;
        return await this.intoPrivateFile(() => restoreTables(file, this.path, tables, request.clean, parts.manifest));
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    }
    return this.restoreWhole(parts, data, request, signal);
  }

  private async restoreWhole(parts: PartSource, data: PartEntry, request: RestoreRequest, signal: AbortSignal): Promise<RestoreOutcome> {
    const state = await inspectFile(this.path);
    if (!state.empty && !request.clean) {
      throw new DbBackupError(
        'E_TARGET_EXISTS',
        `${this.path} already exists and is not empty; pass --clean to replace it, or restore to a new file.`,
      );
    }
    const parent = await stat(dirname(this.path)).catch(() => undefined);
    if (!parent?.isDirectory()) throw new DbBackupError('E_NOT_FOUND', `The folder ${dirname(this.path)} does not exist; create it first.`);
    const temp = join(dirname(this.path), `.${basename(this.path)}.dbbackup-tmp-${randomBytes(4).toString('hex')}`);
    try {
      await this.fetch(parts, data, temp, signal);
      // The restored file keeps the mode of the one it replaces (0600 when new, from fetch).
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
    const objects = parts.manifest.objects.filter((o) => o.type === 'table' || o.type === 'virtual table');
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

  /**
   * Streams the verified database part into `file` (mode 0600), fsyncs it and checks it opens cleanly and
   * holds only the objects the manifest declares. Opening a file runs none of its SQL (SQLite
   * only parses the schema); its triggers and views run later, when the database is used.
   */
  private async fetch(parts: PartSource, data: PartEntry, file: string, signal: AbortSignal): Promise<void> {
    await pipeline(await parts.open(data), createWriteStream(file, { mode: 0o600, highWaterMark: 1 << 20 }), { signal });
    await syncFile(file);
    const db = new Database(file, { readonly: true });
    try {
      let result: unknown;
      try {
        result = db.pragma('quick_check', { simple: true });
      } catch (err) {
        // A schema SQLite cannot read (an index or trigger on another table than its row says, …).
        if (!String((err as { code?: unknown }).code).startsWith('SQLITE_CORRUPT')) throw err;
        result = (err as Error).message;
      }
      if (result !== 'ok') {
        throw new DbBackupError('E_CHECKSUM', `The database in backup ${parts.manifest.id} fails SQLite's quick_check: ${String(result)}.`);
      }
      refuseUndeclared(declarableRows(schemaRows(db)), parts.manifest.objects, parts.manifest.id);
    } finally {
      db.close();
    }
  }

  async close(): Promise<void> {}
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

function snapshotHint(code: string, dir: string): string {
  if (/^SQLITE_(BUSY|LOCKED)/.test(code)) {
    return ' Another connection held a lock for more than 10 s (EXCLUSIVE locking mode or a long write); retry when it is done.';
  }
  if (/^SQLITE_(FULL|IOERR)/.test(code)) {
    return ` The snapshot is copied to ${dirname(dir)} first: set TMPDIR to a folder with room for a copy of the database.`;
  }
  return '';
}

async function hasSidecars(path: string): Promise<boolean> {
  return (await stat(`${path}-wal`).catch(() => undefined)) !== undefined;
}

function isFiltered(f: { tables?: string[]; excludeTables?: string[] }): boolean {
  return f.tables !== undefined || f.excludeTables !== undefined;
}
