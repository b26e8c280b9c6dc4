import { newBackupId } from '../../domain/backup-id.js';
import type { BackupKind } from '../../domain/backup-kind.js';
import { DbBackupError, isAbortError, isDbBackupError } from '../../domain/errors.js';
import { MANIFEST_FORMAT_VERSION, type Manifest, type ObjectEntry } from '../../domain/manifest.js';
import { isValidSourceName, manifestKey } from '../../domain/repository-layout.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { Clock } from '../ports/clock.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { ConnectionTarget, ConnectorRegistry, DatabaseSession } from '../ports/database-connector.js';
import type { Logger } from '../ports/logger.js';
import type { ProgressReporter } from '../ports/progress.js';
import type { OpenedRepository, RepositoryOpener } from '../ports/repository-opener.js';
import { ensureMarker, writeJson } from '../services/backup-repository.js';
import { type CodecStep, PartWriter } from '../services/part-pipeline.js';

export interface RunBackupInput {
  target: ConnectionTarget;
  /** Repository folder/URL, or a `.tar.gz` / `.zip` file path. */
  repository: string;
  /** Name the backups of this database go under; defaults to the connector's choice. */
  source?: string;
  kind: BackupKind;
  compression: { codec: string; level?: number };
  tables?: string[];
  excludeTables?: string[];
  parallel: number;
  /** Inspect and report what would be backed up; write nothing. */
  dryRun?: boolean;
}

export interface RunBackupResult {
  manifest: Manifest;
  repository: string;
  dryRun: boolean;
  /** For a single-file archive: its size on disk. */
  archiveSize?: number;
}

export interface RunBackupDeps {
  connectors: ConnectorRegistry;
  opener: RepositoryOpener;
  codecs: CodecRegistry;
  catalog: BackupCatalog;
  clock: Clock;
  logger: Logger;
  progress: ProgressReporter;
  toolVersion: string;
}

export class RunBackup {
  constructor(private readonly deps: RunBackupDeps) {}

  async execute(input: RunBackupInput, signal: AbortSignal): Promise<RunBackupResult> {
    const { connectors, opener, clock, logger } = this.deps;
    const connector = connectors.get(input.target.engine);
    if (input.kind !== 'full' && !connector.capabilities.incremental) {
      throw new DbBackupError(
        'E_UNSUPPORTED',
        `${input.kind} backups of ${connector.engine} databases are not supported yet; run a full backup (--type full).`,
      );
    }
    const source = input.source ?? connector.defaultSourceName(input.target);
    if (!isValidSourceName(source)) {
      throw new DbBackupError('E_USAGE', `Source name "${source}" is not valid: use letters, digits, '.', '_' and '-' (at most 100).`);
    }
    const session = await connector.connect(input.target, 'backup');
    try {
      await session.test();
      const startedAt = clock.now();
      const id = newBackupId(startedAt, input.kind);
      if (input.dryRun) return { manifest: await this.preview(session, input, id, source, startedAt), repository: input.repository, dryRun: true };

      const repo = await opener.open(input.repository, 'write', { level: input.compression.level });
      const log = logger.child({ backupId: id, source });
      const codecSteps = this.codecSteps(input, repo.forcedCodecs);
      const writer = new PartWriter(repo.store, source, id, codecSteps, this.deps.progress, signal);
      let manifest: Manifest | undefined;
      let archiveSize: number | undefined;
      try {
        await ensureMarker(repo.store, startedAt);
        log.info('backup started', { engine: connector.engine, kind: input.kind, repository: repo.store.location });
        this.deps.progress.start(`backup ${source}`);
        const dumped = await session.dump(
          { kind: input.kind, tables: input.tables, excludeTables: input.excludeTables, parallel: input.parallel },
          writer,
          signal,
        );
        signal.throwIfAborted();
        const parts = writer.partsWritten();
        manifest = {
          formatVersion: MANIFEST_FORMAT_VERSION,
          id,
          source,
          engine: connector.engine,
          serverVersion: dumped.serverVersion,
          kind: input.kind,
          parent: null,
          baseFull: null,
          startedAt: startedAt.toISOString(),
          finishedAt: clock.now().toISOString(),
          consistentAt: dumped.consistentAt.toISOString(),
          logPosition: dumped.logPosition,
          objects: dumped.objects,
          parts,
          warnings: dumped.warnings,
          toolVersion: this.deps.toolVersion,
          engineInfo: dumped.engineInfo,
        };
        // The manifest goes last: its presence is what makes the backup exist.
        await writeJson(repo.store, manifestKey(source, id), manifest);
        const committed = await repo.commit();
        archiveSize = committed ? committed.size : undefined;
      } catch (err) {
        this.deps.progress.stop();
        await this.discard(repo, writer.written, log);
        throw this.wrap(err, signal);
      } finally {
        this.deps.progress.stop();
        await repo.close();
      }
      await this.deps.catalog.record(repo.store.location, manifest);
      log.info('backup complete', { parts: manifest.parts.length, objects: manifest.objects.length });
      return { manifest, repository: repo.store.location, dryRun: false, archiveSize };
    } finally {
      await session.close();
    }
  }

  private codecSteps(input: RunBackupInput, forced: string[] | undefined): CodecStep[] {
    const ids = forced ?? (input.compression.codec === 'none' ? [] : [input.compression.codec]);
    return ids.map((id) => ({ codec: this.deps.codecs.get(id), level: forced ? undefined : input.compression.level }));
  }

  private async preview(
    session: DatabaseSession,
    input: RunBackupInput,
    id: string,
    source: string,
    startedAt: Date,
  ): Promise<Manifest> {
    const objects: ObjectEntry[] = await session.inspect({ tables: input.tables, excludeTables: input.excludeTables });
    const now = startedAt.toISOString();
    return {
      formatVersion: MANIFEST_FORMAT_VERSION,
      id,
      source,
      engine: input.target.engine,
      serverVersion: '',
      kind: input.kind,
      parent: null,
      baseFull: null,
      startedAt: now,
      finishedAt: now,
      consistentAt: now,
      logPosition: null,
      objects,
      parts: [],
      warnings: [],
      toolVersion: this.deps.toolVersion,
      engineInfo: {},
    };
  }

  private async discard(repo: OpenedRepository, keys: string[], log: Logger): Promise<void> {
    for (const key of keys) {
      await repo.store.delete(key).catch((err: unknown) => log.warn('could not remove a part of the failed backup', { key, error: String(err) }));
    }
    await repo.abort().catch(() => undefined);
  }

  private wrap(err: unknown, signal: AbortSignal): unknown {
    if (signal.aborted || isAbortError(err)) {
      return new DbBackupError('E_INTERRUPTED', 'The backup was interrupted; nothing was recorded and its partial files were removed.', {
        cause: err,
      });
    }
    if (isDbBackupError(err)) return err;
    return new DbBackupError('E_BACKUP_FAILED', `The backup failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}
