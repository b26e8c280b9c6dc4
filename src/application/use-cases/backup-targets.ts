import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MANIFEST_FORMAT_VERSION, type Manifest, type ManifestEncryption, type PartEntry, totalStoredSize } from '../../domain/manifest.js';
import { manifestKey, partKey } from '../../domain/repository-layout.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { Clock } from '../ports/clock.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { DatabaseSession, DumpResult } from '../ports/database-connector.js';
import type { Logger } from '../ports/logger.js';
import type { ProgressReporter } from '../ports/progress.js';
import type { OpenedRepository, RepositoryOpener } from '../ports/repository-opener.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import { DbBackupError } from '../../domain/errors.js';
import { prepareEncryption } from '../services/backup-encryption.js';
import { ensureMarker, newMarker, readMarker, writeJson } from '../services/backup-repository.js';
import { type CodecStep, FanOutSink, type PartEncryption, PartDestination, PartWriter } from '../services/part-pipeline.js';
import { VerifyingStage } from '../services/stream-stages.js';
import type { RunBackupInput } from './run-backup.js';

/** One repository of a backup run and how it fared. */
export interface BackupTarget {
  url: string;
  /** Printable location (no credentials); the URL until the repository is open. */
  location: string;
  repo?: OpenedRepository;
  destination?: PartDestination;
  encryption?: { part: PartEncryption; manifest: ManifestEncryption };
  manifest?: Manifest;
  archiveSize?: number;
  error?: DbBackupError;
}

/** What every target of one run shares: one snapshot, one backup id, one data key. */
export interface BackupRun {
  input: RunBackupInput;
  source: string;
  id: string;
  startedAt: Date;
  signal: AbortSignal;
  /** The data key every target's parts are encrypted with (each target wraps it itself). */
  dataKey?: Buffer;
  targets: BackupTarget[];
}

export interface BackupTargetsDeps {
  opener: RepositoryOpener;
  codecs: CodecRegistry;
  catalog: BackupCatalog;
  clock: Clock;
  logger: Logger;
  progress: ProgressReporter;
  toolVersion: string;
  cipher?: StreamCipher;
}

const SILENT: ProgressReporter = { start: () => undefined, advance: () => undefined, stop: () => undefined };

/**
 * Writes one dump into every target of a run. `concurrent`: the dump is read once and teed to all
 * targets (per codec chain, encoded once), a failing target is dropped and the rest carry on.
 * `sequential`: the dump goes to the first target that takes it, then its stored bytes are copied
 * to the others, checked against the manifest's checksums. Failed targets are cleaned up and keep
 * their error; the caller decides between success, partial and failure.
 */
export class BackupTargets {
  constructor(
    private readonly deps: BackupTargetsDeps,
    private readonly wrap: (err: unknown) => DbBackupError,
  ) {}

  async concurrent(session: DatabaseSession, run: BackupRun, targets: BackupTarget[]): Promise<void> {
    for (const t of targets) await this.open(run, t).catch((err: unknown) => this.fail(run, t, err));
    const live = targets.filter((t) => !t.error);
    if (live.length === 0) throw targets[0]!.error!;
    const groups = new Map<string, BackupTarget[]>();
    for (const t of live) {
      const signature = JSON.stringify(t.repo!.forcedCodecs ?? null);
      groups.set(signature, [...(groups.get(signature) ?? []), t]);
    }
    const writers = [...groups.values()].map(
      (ts, i) =>
        new PartWriter(
          ts.map((t) => t.destination!),
          run.source,
          run.id,
          this.codecSteps(run.input, ts[0]!.repo!.forcedCodecs),
          groups.size === 1 ? this.deps.progress : SILENT,
          run.signal,
          ts[0]!.encryption?.part,
          (d, err) => {
            const t = ts.find((x) => x.destination === d)!;
            this.deps.logger.warn('a target failed; the backup carries on into the others', { repository: t.location, error: String(err) });
          },
        ),
    );
    const log = this.deps.logger.child({ backupId: run.id, source: run.source });
    try {
      log.info('backup started', { engine: run.input.target.engine, kind: run.input.kind, repositories: live.map((t) => t.location) });
      this.deps.progress.start(`backup ${run.source}`);
      const { input } = run;
      const dumped = await session.dump(
        { kind: input.kind, tables: input.tables, excludeTables: input.excludeTables, parallel: input.parallel },
        writers.length === 1 ? writers[0]! : new FanOutSink(writers, this.deps.progress),
        run.signal,
      );
      run.signal.throwIfAborted();
      this.deps.progress.stop();
      const parts = new Map<BackupTarget, PartEntry[]>();
      [...groups.values()].forEach((ts, i) => {
        for (const t of ts) {
          if (t.destination!.failed) this.fail(run, t, t.destination!.failure);
          else parts.set(t, writers[i]!.partsWritten());
        }
      });
      for (const [t, p] of parts) {
        await this.finish(run, t, this.manifest(run, dumped, p, t)).catch((err: unknown) => this.fail(run, t, err));
      }
    } catch (err) {
      this.deps.progress.stop();
      for (const t of live) if (!t.manifest) t.error ??= this.wrap(err);
      throw err;
    } finally {
      await this.release(run, live);
    }
  }

  async sequential(session: DatabaseSession, run: BackupRun): Promise<void> {
    let primary: BackupTarget | undefined;
    for (const t of run.targets) {
      if (primary) {
        await this.copy(run, primary, t);
        if (t.error?.code === 'E_INTERRUPTED') throw t.error;
        continue;
      }
      try {
        await this.concurrent(session, run, [t]);
        if (t.manifest) primary = t;
      } catch (err) {
        if (this.wrap(err).code === 'E_INTERRUPTED') throw err;
        this.deps.logger.warn('the first target failed; dumping into the next one', { repository: t.location, error: String(err) });
      }
    }
  }

  /** Opens the repository, checks or creates its marker and wraps the run's data key for it. */
  private async open(run: BackupRun, t: BackupTarget): Promise<void> {
    const repo = await this.deps.opener.open(t.url, 'write', { level: run.input.compression.level });
    t.repo = repo;
    t.location = repo.store.location;
    const existing = await readMarker(repo.store);
    if (run.input.encryption) {
      if (!this.deps.cipher) throw new DbBackupError('E_UNSUPPORTED', 'This build has no cipher for --encrypt.');
      const marker = existing ?? newMarker(run.startedAt);
      t.encryption = await prepareEncryption(repo.store, marker, !existing, run.input.encryption, this.deps.cipher, run.startedAt, run.dataKey);
    } else if (!existing) {
      await ensureMarker(repo.store, run.startedAt);
    }
    t.destination = new PartDestination(repo.store);
  }

  /** Copies every stored part of `from`'s backup into `to`, verifying each against the manifest. */
  private async copy(run: BackupRun, from: BackupTarget, to: BackupTarget): Promise<void> {
    let source: OpenedRepository | undefined;
    try {
      await this.open(run, to);
      source = await this.deps.opener.open(from.url, 'read');
      for (const part of from.manifest!.parts) {
        run.signal.throwIfAborted();
        const key = partKey(run.source, run.id, part.name);
        to.destination!.written.push(key);
        await copyObject(source, to.repo!, key, part, `Part ${part.name} of backup ${run.id} in ${from.location}`, run.signal);
      }
      const { encryption: _e, targets: _t, ...manifest } = from.manifest!;
      const copied = { ...manifest, encryption: to.encryption?.manifest ?? null, copiedFrom: from.location, finishedAt: this.deps.clock.now().toISOString() };
      await this.finish(run, to, copied);
    } catch (err) {
      this.fail(run, to, err);
    } finally {
      await source?.close().catch(() => undefined);
      await this.release(run, [to]);
    }
  }

  private manifest(run: BackupRun, dumped: DumpResult, parts: PartEntry[], t: BackupTarget): Manifest {
    const many = run.targets.length > 1 && run.input.fanout !== 'sequential';
    return {
      formatVersion: MANIFEST_FORMAT_VERSION,
      id: run.id,
      source: run.source,
      engine: run.input.target.engine,
      serverVersion: dumped.serverVersion,
      kind: run.input.kind,
      parent: null,
      baseFull: null,
      startedAt: run.startedAt.toISOString(),
      finishedAt: this.deps.clock.now().toISOString(),
      consistentAt: dumped.consistentAt.toISOString(),
      logPosition: dumped.logPosition,
      objects: dumped.objects,
      parts,
      warnings: dumped.warnings,
      toolVersion: this.deps.toolVersion,
      engineInfo: dumped.engineInfo,
      encryption: t.encryption?.manifest ?? null,
      ...(many
        ? { targets: run.targets.map((x) => ({ location: x.location, ok: !x.error, ...(x.error ? { error: `${x.error.code}: ${x.error.message}` } : {}) })) }
        : {}),
    };
  }

  /** Writes the manifest (last: its presence is what makes the backup exist), commits, records. */
  private async finish(run: BackupRun, t: BackupTarget, manifest: Manifest): Promise<void> {
    await writeJson(t.repo!.store, manifestKey(run.source, run.id), manifest);
    const committed = await t.repo!.commit();
    t.archiveSize = committed ? committed.size : undefined;
    t.manifest = manifest;
    // The backup exists now; the catalog is only a cache of it (`list --refresh` rebuilds it).
    await this.deps.catalog.record(t.location, manifest).catch((err: unknown) =>
      this.deps.logger.warn('the backup is complete but the catalog could not record it; run `dbbackup list --refresh`', {
        repository: t.location,
        error: String((err as Error)?.message ?? err),
      }),
    );
    this.deps.logger.info('backup complete', {
      backupId: run.id,
      source: run.source,
      repository: t.location,
      parts: manifest.parts.length,
      objects: manifest.objects.length,
      storedBytes: totalStoredSize(manifest),
    });
  }

  private fail(run: BackupRun, t: BackupTarget, err: unknown): void {
    t.error ??= this.wrap(err);
    if (run.targets.length > 1) this.deps.logger.warn('target failed', { repository: t.location, code: t.error.code, error: t.error.message });
  }

  /** Removes what failed targets wrote, then closes every repository. */
  private async release(run: BackupRun, targets: BackupTarget[]): Promise<void> {
    for (const t of targets) {
      if (!t.repo) continue;
      if (!t.manifest) {
        for (const key of t.destination?.written ?? []) {
          await t.repo.store
            .delete(key)
            .catch((err: unknown) => this.deps.logger.warn('could not remove a part of the failed backup', { key, backupId: run.id, error: String(err) }));
        }
        await t.repo.abort().catch(() => undefined);
      }
      await t.repo.close().catch(() => undefined);
    }
  }

  private codecSteps(input: RunBackupInput, forced: string[] | undefined): CodecStep[] {
    const ids = forced ?? (input.compression.codec === 'none' ? [] : [input.compression.codec]);
    return ids.map((id) => ({ codec: this.deps.codecs.get(id), level: forced ? undefined : input.compression.level }));
  }
}

/** Streams one stored object from a repository into another, failing on any checksum mismatch. */
async function copyObject(
  from: OpenedRepository,
  to: OpenedRepository,
  key: string,
  part: PartEntry,
  what: string,
  signal: AbortSignal,
): Promise<void> {
  const local = new AbortController();
  const onAbort = () => local.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const body = await from.store.get(key, undefined, local.signal);
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const piping = pipeline(body, new VerifyingStage(part.sha256, part.storedSize, what), out, { signal: local.signal });
    const putting = to.store.put(key, out, { size: part.storedSize, signal: local.signal });
    try {
      await Promise.all([piping, putting]);
    } catch (err) {
      local.abort(err);
      await Promise.allSettled([piping, putting]);
      throw signal.aborted ? (signal.reason ?? err) : err;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
