import { hostname } from 'node:os';
import { newBackupId } from '../../domain/backup-id.js';
import type { BackupKind } from '../../domain/backup-kind.js';
import { DbBackupError, isAbortError, isDbBackupError } from '../../domain/errors.js';
import { MANIFEST_FORMAT_VERSION, type Manifest, totalRawSize, totalStoredSize } from '../../domain/manifest.js';
import { isValidSourceName, manifestKey } from '../../domain/repository-layout.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { Clock } from '../ports/clock.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { ConnectionTarget, ConnectorRegistry, DatabaseSession } from '../ports/database-connector.js';
import type { Logger } from '../ports/logger.js';
import type { Notifier, NotificationThrottle, OutcomeEvent } from '../ports/notifier.js';
import type { ProgressReporter } from '../ports/progress.js';
import type { OpenedRepository, RepositoryOpener } from '../ports/repository-opener.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import { prepareEncryption } from '../services/backup-encryption.js';
import { ensureMarker, newMarker, readMarker, writeJson } from '../services/backup-repository.js';
import { notifyAll } from '../services/notify.js';
import { type CodecStep, PartWriter } from '../services/part-pipeline.js';

export interface RunBackupInput {
  target: ConnectionTarget;
  /** Repository folder/URL or `.tar.gz`/`.zip` path; several for a multi-target backup. */
  repository: string | string[];
  /** Name the backups of this database go under; defaults to the connector's choice. */
  source?: string;
  kind: BackupKind;
  compression: { codec: string; level?: number };
  tables?: string[];
  excludeTables?: string[];
  parallel: number;
  /** Inspect and report what would be backed up; write nothing. */
  dryRun?: boolean;
  /** Encrypt every part under a fresh data key wrapped by this key. */
  encryption?: KeyEncryptionKey;
}

export interface TargetResult {
  repository: string;
  ok: boolean;
  manifest?: Manifest;
  archiveSize?: number;
  error?: DbBackupError;
}

export interface RunBackupResult {
  /** The manifest of the first successful target (each target's backup has its own id). */
  manifest: Manifest;
  repository: string;
  dryRun: boolean;
  /** For a single-file archive: its size on disk. */
  archiveSize?: number;
  targets: TargetResult[];
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
  notifiers?: Notifier[];
  throttle?: NotificationThrottle;
  cipher?: StreamCipher;
}

/**
 * Takes a consistent snapshot and writes it into each repository: parts first, manifest last.
 * Any failure removes what that attempt wrote; the outcome goes to the notifiers. With several
 * targets, some failing, it throws E_PARTIAL (exit 5) after recording the ones that worked.
 */
export class RunBackup {
  constructor(private readonly deps: RunBackupDeps) {}

  async execute(input: RunBackupInput, signal: AbortSignal): Promise<RunBackupResult> {
    const connector = await this.deps.connectors.get(input.target.engine);
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
    const repositories = Array.isArray(input.repository) ? input.repository : [input.repository];
    if (repositories.length === 0) throw new DbBackupError('E_USAGE', 'No repository to back up into; give --out or configure targets.');
    const started = this.deps.clock.now();
    const targets: TargetResult[] = [];
    try {
      const session = await connector.connect(input.target, 'backup');
      try {
        await session.test();
        if (input.dryRun) return await this.preview(session, input, source, repositories[0]!);
        for (const repository of repositories) {
          try {
            targets.push({ ok: true, ...(await this.backupInto(session, input, source, repository, signal)) });
          } catch (err) {
            const e = this.wrap(err, signal);
            targets.push({ repository, ok: false, error: e });
            if (e.code === 'E_INTERRUPTED' || repositories.length === 1) throw e;
          }
        }
      } finally {
        await session.close();
      }
    } catch (err) {
      const e = this.wrap(err, signal);
      await this.report(input, source, started, targets, e);
      throw e;
    }
    const ok = targets.filter((t) => t.ok);
    if (ok.length === 0) {
      const e = targets[0]!.error!;
      await this.report(input, source, started, targets, e);
      throw e;
    }
    const partial =
      ok.length < targets.length
        ? new DbBackupError(
            'E_PARTIAL',
            `The backup reached ${ok.length} of ${targets.length} targets; failed: ` +
              targets.filter((t) => !t.ok).map((t) => `${t.repository} (${t.error!.code}: ${t.error!.message})`).join('; '),
            { details: { targets: targets.map((t) => ({ repository: t.repository, ok: t.ok, id: t.manifest?.id, error: t.error?.code })) } },
          )
        : undefined;
    await this.report(input, source, started, targets, partial);
    if (partial) throw partial;
    return { manifest: ok[0]!.manifest!, repository: ok[0]!.repository, dryRun: false, archiveSize: ok[0]!.archiveSize, targets };
  }

  /** One complete backup into one repository; on failure removes its parts and rethrows. */
  private async backupInto(
    session: DatabaseSession,
    input: RunBackupInput,
    source: string,
    url: string,
    signal: AbortSignal,
  ): Promise<{ manifest: Manifest; archiveSize?: number; repository: string }> {
    const { clock, logger } = this.deps;
    const startedAt = clock.now();
    const id = newBackupId(startedAt, input.kind);
    const repo = await this.deps.opener.open(url, 'write', { level: input.compression.level });
    const log = logger.child({ backupId: id, source });
    let writer: PartWriter | undefined;
    let manifest: Manifest;
    let archiveSize: number | undefined;
    try {
      const existing = await readMarker(repo.store);
      let encryption: Awaited<ReturnType<typeof prepareEncryption>> | undefined;
      if (input.encryption) {
        if (!this.deps.cipher) throw new DbBackupError('E_UNSUPPORTED', 'This build has no cipher for --encrypt.');
        encryption = await prepareEncryption(repo.store, existing ?? newMarker(startedAt), !existing, input.encryption, this.deps.cipher, startedAt);
      } else if (!existing) {
        await ensureMarker(repo.store, startedAt);
      }
      writer = new PartWriter(repo.store, source, id, this.codecSteps(input, repo.forcedCodecs), this.deps.progress, signal, encryption?.part);
      log.info('backup started', { engine: input.target.engine, kind: input.kind, repository: repo.store.location });
      this.deps.progress.start(`backup ${source}`);
      const dumped = await session.dump(
        { kind: input.kind, tables: input.tables, excludeTables: input.excludeTables, parallel: input.parallel },
        writer,
        signal,
      );
      signal.throwIfAborted();
      manifest = {
        formatVersion: MANIFEST_FORMAT_VERSION,
        id,
        source,
        engine: input.target.engine,
        serverVersion: dumped.serverVersion,
        kind: input.kind,
        parent: null,
        baseFull: null,
        startedAt: startedAt.toISOString(),
        finishedAt: clock.now().toISOString(),
        consistentAt: dumped.consistentAt.toISOString(),
        logPosition: dumped.logPosition,
        objects: dumped.objects,
        parts: writer.partsWritten(),
        warnings: dumped.warnings,
        toolVersion: this.deps.toolVersion,
        engineInfo: dumped.engineInfo,
        encryption: encryption?.manifest ?? null,
      };
      // The manifest goes last: its presence is what makes the backup exist.
      await writeJson(repo.store, manifestKey(source, id), manifest);
      const committed = await repo.commit();
      archiveSize = committed ? committed.size : undefined;
    } catch (err) {
      this.deps.progress.stop();
      await this.discard(repo, writer?.written ?? [], log);
      throw err;
    } finally {
      this.deps.progress.stop();
      await repo.close();
    }
    await this.deps.catalog.record(repo.store.location, manifest);
    log.info('backup complete', { parts: manifest.parts.length, objects: manifest.objects.length, storedBytes: totalStoredSize(manifest) });
    return { manifest, archiveSize, repository: repo.store.location };
  }

  private codecSteps(input: RunBackupInput, forced: string[] | undefined): CodecStep[] {
    const ids = forced ?? (input.compression.codec === 'none' ? [] : [input.compression.codec]);
    return ids.map((id) => ({ codec: this.deps.codecs.get(id), level: forced ? undefined : input.compression.level }));
  }

  private async preview(session: DatabaseSession, input: RunBackupInput, source: string, repository: string): Promise<RunBackupResult> {
    const objects = await session.inspect({ tables: input.tables, excludeTables: input.excludeTables });
    const now = this.deps.clock.now();
    const manifest: Manifest = {
      formatVersion: MANIFEST_FORMAT_VERSION,
      id: newBackupId(now, input.kind),
      source,
      engine: input.target.engine,
      serverVersion: '',
      kind: input.kind,
      parent: null,
      baseFull: null,
      startedAt: now.toISOString(),
      finishedAt: now.toISOString(),
      consistentAt: now.toISOString(),
      logPosition: null,
      objects,
      parts: [],
      warnings: [],
      toolVersion: this.deps.toolVersion,
      engineInfo: {},
    };
    return { manifest, repository, dryRun: true, targets: [] };
  }

  private async discard(repo: OpenedRepository, keys: string[], log: Logger): Promise<void> {
    for (const key of keys) {
      await repo.store.delete(key).catch((err: unknown) => log.warn('could not remove a part of the failed backup', { key, error: String(err) }));
    }
    await repo.abort().catch(() => undefined);
  }

  private async report(input: RunBackupInput, source: string, started: Date, targets: TargetResult[], error: DbBackupError | undefined): Promise<void> {
    if (!this.deps.notifiers?.length) return;
    const ok = targets.find((t) => t.ok);
    const event: OutcomeEvent = {
      outcome: error === undefined ? 'success' : ok ? 'partial' : 'failure',
      task: 'backup',
      source,
      kind: input.kind,
      backupId: ok?.manifest?.id,
      repository: ok?.repository,
      storedSize: ok?.manifest ? (ok.archiveSize ?? totalStoredSize(ok.manifest)) : undefined,
      rawSize: ok?.manifest ? totalRawSize(ok.manifest) : undefined,
      durationMs: this.deps.clock.now().getTime() - started.getTime(),
      error: error ? { code: error.code, message: error.message } : undefined,
      targets: targets.length > 1 ? targets.map((t) => ({ repository: t.repository, ok: t.ok, error: t.error?.code })) : undefined,
      at: this.deps.clock.now().toISOString(),
      host: hostname(),
    };
    await notifyAll(this.deps.notifiers, event, { logger: this.deps.logger, throttle: this.deps.throttle, now: this.deps.clock.now() });
  }

  private wrap(err: unknown, signal: AbortSignal): DbBackupError {
    if (isDbBackupError(err) && err.code === 'E_INTERRUPTED') return err;
    if (signal.aborted || isAbortError(err)) {
      return new DbBackupError('E_INTERRUPTED', 'The backup was interrupted; nothing was recorded and its partial files were removed.', {
        cause: err,
      });
    }
    if (isDbBackupError(err)) return err;
    return new DbBackupError('E_BACKUP_FAILED', `The backup failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}
