import type BetterSqlite3 from 'better-sqlite3';
import { and, asc, eq, inArray, lt, type SQL } from 'drizzle-orm';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import type { BackupCatalog, CatalogBackup } from '../../application/ports/backup-catalog.js';
import type { NotificationThrottle } from '../../application/ports/notifier.js';
import type { TargetOutcomeRecord, TargetOutcomes } from '../../application/ports/target-outcomes.js';
import { DbBackupError } from '../../domain/errors.js';
import { durationMs, type Manifest, totalRawSize, totalStoredSize } from '../../domain/manifest.js';
import { ensurePrivateFile } from '../../infrastructure/files.js';
import { redact } from '../../infrastructure/redact.js';
import { migrateCatalog } from './migrate.js';
import { backups, notificationState, repositories, targetOutcomes } from './schema.js';
import { Database } from '../../infrastructure/sqlite-driver.js';



/** The catalog in one SQLite file (drizzle over better-sqlite3); migrations run on open. */
export class DrizzleBackupCatalog implements BackupCatalog, TargetOutcomes, NotificationThrottle {
  private readonly sqlite: BetterSqlite3.Database;
  private readonly db: BetterSQLite3Database;

  constructor(file: string) {
    try {
      if (file !== ':memory:') ensurePrivateFile(file);
      this.sqlite = new Database(file);
      this.sqlite.pragma('journal_mode = WAL');
      // In WAL mode NORMAL syncs at checkpoints, not at every commit: a power cut may lose the last
      // records, never corrupt the file, and the catalog is a cache of the repositories (`list
      // --refresh` rebuilds it). A backup's record no longer waits for an fsync.
      this.sqlite.pragma('synchronous = NORMAL');
      this.sqlite.pragma('busy_timeout = 5000');
      this.db = drizzle(this.sqlite);
      migrateCatalog(this.db, this.sqlite);
    } catch (err) {
      throw new DbBackupError(
        'E_CONFIG',
        `Cannot open the catalog at ${file}: ${(err as Error).message}. Set --data-dir or DBBACKUP_DATA_DIR to a writable folder.`,
        { cause: err },
      );
    }
  }

  async record(repository: string, manifest: Manifest): Promise<void> {
    this.db.transaction((tx) => {
      this.touch(tx, repository);
      tx.insert(backups).values(row(repository, manifest)).onConflictDoUpdate({
        target: [backups.repository, backups.source, backups.id],
        set: row(repository, manifest),
      }).run();
    });
  }

  async replaceRepository(repository: string, manifests: Manifest[], scannedFrom?: Date): Promise<void> {
    this.db.transaction((tx) => {
      this.touch(tx, repository);
      tx.update(repositories).set({ lastScannedAt: new Date().toISOString() }).where(eq(repositories.location, repository)).run();
      // A backup recorded after the scan began completed while it ran: the scan could not see it, it is not stale.
      const stale = scannedFrom ? and(eq(backups.repository, repository), lt(backups.recordedAt, scannedFrom.toISOString())) : eq(backups.repository, repository);
      tx.delete(backups).where(stale).run();
      for (const m of manifests) {
        tx.insert(backups).values(row(repository, m)).onConflictDoUpdate({ target: [backups.repository, backups.source, backups.id], set: row(repository, m) }).run();
      }
    });
  }

  async forget(repository: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    this.db.delete(backups).where(and(eq(backups.repository, repository), inArray(backups.id, [...ids]))).run();
  }

  async list(filter: { repository?: string; source?: string } = {}): Promise<CatalogBackup[]> {
    const conditions: SQL[] = [];
    if (filter.repository) conditions.push(eq(backups.repository, filter.repository));
    if (filter.source) conditions.push(eq(backups.source, filter.source));
    const rows = this.db
      .select()
      .from(backups)
      .where(conditions.length ? and(...conditions) : undefined)
      .orderBy(asc(backups.id), asc(backups.repository))
      .all();
    return rows.map((r) => ({
      id: r.id,
      repository: r.repository,
      source: r.source,
      engine: r.engine,
      kind: r.kind,
      parent: r.parent,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      storedSize: r.storedSize,
      rawSize: r.rawSize,
      durationMs: r.durationMs,
      status: 'complete' as const,
      objectCount: r.objectCount,
      partCount: r.partCount,
    }));
  }

  async recordOutcomes(source: string, backupId: string, outcomes: TargetOutcomeRecord[]): Promise<void> {
    const recordedAt = new Date().toISOString();
    this.db.transaction((tx) => {
      outcomes.forEach((o, i) => {
        const values = {
          source,
          backupId,
          repository: o.repository,
          ok: o.ok,
          errorCode: o.errorCode ?? null,
          // Messages hold no secrets by construction; redacting here keeps it so whatever produced them.
          errorMessage: o.errorMessage === undefined ? null : redact(o.errorMessage),
          // Keeps the given order when read back (ties broken by the suffix).
          recordedAt: `${recordedAt}#${String(i).padStart(3, '0')}`,
        };
        tx.insert(targetOutcomes).values(values).onConflictDoUpdate({
          target: [targetOutcomes.source, targetOutcomes.backupId, targetOutcomes.repository],
          set: values,
        }).run();
      });
    });
  }

  async outcomes(source: string, backupId: string): Promise<TargetOutcomeRecord[]> {
    const rows = this.db
      .select()
      .from(targetOutcomes)
      .where(and(eq(targetOutcomes.source, source), eq(targetOutcomes.backupId, backupId)))
      .orderBy(asc(targetOutcomes.recordedAt))
      .all();
    return rows.map((r) => ({
      repository: r.repository,
      ok: r.ok,
      ...(r.errorCode ? { errorCode: r.errorCode } : {}),
      ...(r.errorMessage ? { errorMessage: r.errorMessage } : {}),
    }));
  }

  async repositories(): Promise<string[]> {
    return this.db.select().from(repositories).orderBy(asc(repositories.location)).all().map((r) => r.location);
  }

  async claim(key: string, windowMs: number, now: Date): Promise<boolean> {
    return this.db.transaction((tx) => {
      const row = tx.select().from(notificationState).where(eq(notificationState.key, key)).get();
      if (row && now.getTime() - Date.parse(row.lastSentAt) < windowMs) return false;
      tx.insert(notificationState)
        .values({ key, lastSentAt: now.toISOString() })
        .onConflictDoUpdate({ target: notificationState.key, set: { lastSentAt: now.toISOString() } })
        .run();
      return true;
    });
  }

  /** Releases the connection (no port has it: whoever opened the catalog closes it). */
  close(): void {
    if (this.sqlite.open) this.sqlite.close();
  }

  private touch(tx: Pick<BetterSQLite3Database, 'insert'>, repository: string): void {
    tx.insert(repositories).values({ location: repository, firstSeenAt: new Date().toISOString() }).onConflictDoNothing().run();
  }
}

function row(repository: string, m: Manifest) {
  return {
    repository,
    id: m.id,
    source: m.source,
    engine: m.engine,
    kind: m.kind,
    parent: m.parent,
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    storedSize: totalStoredSize(m),
    rawSize: totalRawSize(m),
    durationMs: durationMs(m),
    objectCount: m.objects.length,
    partCount: m.parts.length,
    recordedAt: new Date().toISOString(),
  };
}
