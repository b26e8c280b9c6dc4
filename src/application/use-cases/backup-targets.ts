import type { Engine } from '../../domain/backup-kind.js';
import { DbBackupError } from '../../domain/errors.js';
import { MANIFEST_FORMAT_VERSION, type Manifest, type ManifestEncryption, type PartEntry, totalStoredSize } from '../../domain/manifest.js';
import { partKey } from '../../domain/repository-layout.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { Clock } from '../ports/clock.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { DatabaseSession } from '../ports/database-session.js';
import type { DumpRequest, DumpResult } from '../ports/dump.js';
import type { PartSink } from '../ports/parts.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { Logger } from '../ports/logger.js';
import type { ProgressReporter } from '../ports/progress.js';
import type { OpenedRepository, RepositoryOpener } from '../ports/repository-opener.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import type { PartCache } from '../ports/part-cache.js';
import { keepingLocal } from '../pipeline/keep-local-sink.js';
import { copyParts } from '../pipeline/copy-parts.js';
import { type StoreGroup, writeParts } from '../pipeline/fan-out.js';
import type { PartEncryption } from '../pipeline/part-encryption.js';
import { type CodecStep, removeWritten } from '../pipeline/part-writer.js';
import type { ManifestSigner } from '../ports/manifest-signer.js';
import { checkPlaintextAllowed, prepareEncryption } from '../services/backup-encryption.js';
import { ensureMarker, newMarker, readMarker } from '../services/backup-repository.js';
import { writeSealedManifest } from '../services/manifest-auth.js';
import { RateLimiter, rateLimitedSink } from '../pipeline/rate-limit.js';
import { chainFields, dumpOrChanges, type RunChain } from './backup-chain.js';

/** What every target of one run shares: one snapshot, one backup id, one data key. */
export interface BackupRun {
  source: string;
  id: string;
  engine: Engine;
  request: DumpRequest;
  compression: { codec: string; level?: number };
  /** The key each repository wraps the run's data key with (an encrypted backup). */
  encryption?: KeyEncryptionKey;
  /** The data key every target's parts are encrypted with (each target wraps it itself). */
  dataKey?: Buffer;
  /** Signs every target's manifest. */
  signing?: ManifestSigner;
  /** See RunBackupInput.allowUnencrypted. */
  allowUnencrypted?: boolean;
  /** See RunBackupInput.fanout. */
  fanout: 'concurrent' | 'sequential';
  /** See RunBackupInput.maxRate. */
  maxRate?: number;
  repositories: string[];
  startedAt: Date;
  signal: AbortSignal;
  /** The parent an incremental or differential reads changes against, and the manifest's chain fields. */
  chain?: RunChain;
  /** Writes the run's parts instead of the session's dump (replicate's snapshots, segments and compactions). */
  produce?: (sink: PartSink, signal: AbortSignal) => Promise<DumpResult>;
  /**
   * Targets whose marker was already checked (and data key wrapped) by an earlier run of the same
   * caller, reused as they are: `replicate` writes a segment a second and must not read the marker
   * nor stretch a passphrase each time. Filled by every run that carries it.
   */
  checkedTargets?: Map<string, { encryption?: Target['encryption'] }>;
  /** Manifest fields set by the caller (replicate's chain fields, a scheduled run), over those derived from `chain`. */
  fields?: Partial<Pick<Manifest, 'parent' | 'baseFull' | 'position' | 'restorable' | 'continuous' | 'generation' | 'scheduledRun'>>;
}

/** How one repository of a run fared. */
export interface TargetResult {
  repository: string;
  ok: boolean;
  manifest?: Manifest;
  archiveSize?: number;
  error?: DbBackupError;
}

/** Every target's result; `failure` when the run as a whole failed (the dump, an interrupt). */
export interface BackupRunOutcome {
  targets: TargetResult[];
  failure?: DbBackupError;
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
  /** Where a run that cannot read its repository back keeps the parts a later backup reads (see PartCache). */
  partCache?: PartCache;
}

/** One repository of a run while it is written (this module's own state). */
interface Target {
  url: string;
  /** Printable location (no credentials); the URL until the repository is open. */
  location: string;
  repo?: OpenedRepository;
  encryption?: { part: PartEncryption; manifest: ManifestEncryption };
  /** The parts that landed here; removed again if the manifest cannot be written. */
  parts?: PartEntry[];
  manifest?: Manifest;
  archiveSize?: number;
  error?: DbBackupError;
}

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

  /** Writes the run's dump into its repositories; a failure comes back in the outcome, not thrown. */
  async write(session: DatabaseSession, run: BackupRun): Promise<BackupRunOutcome> {
    const targets: Target[] = run.repositories.map((url) => ({ url, location: url }));
    try {
      if (run.fanout === 'sequential' && targets.length > 1) await this.sequential(session, run, targets);
      else await this.concurrent(session, run, targets, targets);
      return { targets: targets.map((t) => result(t)) };
    } catch (err) {
      const failure = this.wrap(err);
      return { targets: targets.map((t) => result(t, failure)), failure };
    }
  }

  private async concurrent(session: DatabaseSession, run: BackupRun, all: Target[], targets: Target[]): Promise<void> {
    for (const t of targets) await this.open(run, t).catch((err: unknown) => this.fail(run, t, err));
    const live = targets.filter((t) => !t.error);
    if (live.length === 0) throw targets[0]!.error!;
    const groups = new Map<string, Target[]>();
    for (const t of live) {
      const signature = JSON.stringify(t.repo!.forcedCodecs ?? null);
      groups.set(signature, [...(groups.get(signature) ?? []), t]);
    }
    const chains: StoreGroup[] = [...groups.values()].map((ts) => ({
      codecs: this.codecSteps(run, ts[0]!.repo!.forcedCodecs),
      encryption: ts[0]!.encryption?.part,
      stores: ts.map((t) => t.repo!.store),
    }));
    const log = this.deps.logger.child({ backupId: run.id, source: run.source });
    try {
      log.info('backup started', { engine: run.engine, kind: run.request.kind, repositories: live.map((t) => t.location) });
      this.deps.progress.start(`backup ${run.source}`);
      const { source, id: backupId, signal } = run;
      const { dumped, outcomes } = await writeParts(chains, { source, backupId, signal, progress: this.deps.progress, logger: this.deps.logger }, (sink) =>
        run.produce
          ? run.produce(this.keepingLocal(run, sink), signal)
          : dumpOrChanges(session, { ...run.request, status: (waiting) => this.waiting(run, log, waiting), estimate: (n) => this.deps.progress.expect(n) }, run.chain, this.keepingLocal(run, run.maxRate ? rateLimitedSink(sink, new RateLimiter(run.maxRate), signal) : sink), signal),
      );
      this.deps.progress.stop();
      [...groups.values()].forEach((ts, i) =>
        ts.forEach((t, j) => {
          const outcome = outcomes[i]![j]!;
          if (outcome.ok) t.parts = outcome.parts;
          else this.fail(run, t, outcome.error);
        }),
      );
      for (const t of live.filter((x) => x.parts)) {
        await this.finish(run, t, this.manifest(run, dumped, t.parts!, t, all)).catch((err: unknown) => this.fail(run, t, err));
      }
      if (live.some((t) => t.manifest)) await this.retainLocal(run);
    } catch (err) {
      this.deps.progress.stop();
      for (const t of live) if (!t.manifest) t.error ??= this.wrap(err);
      throw err;
    } finally {
      await this.release(run, live);
    }
  }

  private async sequential(session: DatabaseSession, run: BackupRun, targets: Target[]): Promise<void> {
    let primary: Target | undefined;
    for (const t of targets) {
      if (primary) {
        await this.copy(run, primary, t);
        if (t.error?.code === 'E_INTERRUPTED') throw t.error;
        continue;
      }
      try {
        await this.concurrent(session, run, targets, [t]);
        if (t.manifest) primary = t;
      } catch (err) {
        if (this.wrap(err).code === 'E_INTERRUPTED') throw err;
        this.deps.logger.warn('the first target failed; dumping into the next one', { repository: t.location, error: String(err) });
      }
    }
  }

  /** Whether the run keeps local copies of `keepLocal` parts: it could not read them back from its repository. */
  private keepsLocal(run: BackupRun): boolean {
    return this.deps.partCache !== undefined && run.encryption !== undefined && !run.encryption.canUnwrap;
  }

  private keepingLocal(run: BackupRun, sink: PartSink): PartSink {
    const cache = this.deps.partCache;
    if (!cache || !this.keepsLocal(run)) return sink;
    return keepingLocal(sink, {
      cache,
      source: run.source,
      backupId: run.id,
      onLost: (part, err) =>
        this.deps.logger.warn('could not keep a local copy of a part; the next incremental of this source needs a full first', { part, error: String(err) }),
    });
  }

  /** Once the backup exists: keeps the copies of it and of its base full (what the next link reads), forgets older ones. */
  private async retainLocal(run: BackupRun): Promise<void> {
    if (!this.keepsLocal(run)) return;
    const baseFull = run.chain?.parent?.baseFull.id ?? run.id;
    await this.deps.partCache!.retain(run.source, [run.id, baseFull]).catch((err: unknown) => {
      this.deps.logger.warn('could not prune the local copies of parts', { error: String(err) });
    });
  }

  /** Opens the repository, checks or creates its marker and wraps the run's data key for it. */
  private async open(run: BackupRun, t: Target): Promise<void> {
    const repo = await this.deps.opener.open(t.url, 'write', { level: run.compression.level });
    t.repo = repo;
    t.location = repo.store.location;
    const checked = run.checkedTargets?.get(t.url);
    if (checked) {
      t.encryption = checked.encryption;
      return;
    }
    const existing = await readMarker(repo.store);
    if (run.encryption) {
      if (!this.deps.cipher) throw new DbBackupError('E_UNSUPPORTED', 'This build has no cipher for --encrypt.');
      const marker = existing ?? newMarker(run.startedAt);
      t.encryption = await prepareEncryption(repo.store, marker, !existing, run.encryption, this.deps.cipher, run.startedAt, run.dataKey);
    } else {
      checkPlaintextAllowed(existing, repo.store.location, run.allowUnencrypted === true, this.deps.logger);
      if (!existing) await ensureMarker(repo.store, run.startedAt);
    }
    run.checkedTargets?.set(t.url, { encryption: t.encryption });
  }

  /** Copies every stored part of `from`'s backup into `to`, verifying each against the manifest. */
  private async copy(run: BackupRun, from: Target, to: Target): Promise<void> {
    let source: OpenedRepository | undefined;
    try {
      await this.open(run, to);
      source = await this.deps.opener.open(from.url, 'read');
      await copyParts(source.store, to.repo!.store, from.manifest!, {
        describe: (part) => `Part ${part.name} of backup ${run.id} in ${from.location}`,
        logger: this.deps.logger,
        signal: run.signal,
      });
      to.parts = from.manifest!.parts;
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

  private manifest(run: BackupRun, dumped: DumpResult, parts: PartEntry[], t: Target, all: Target[]): Manifest {
    const many = all.length > 1 && run.fanout !== 'sequential';
    return {
      formatVersion: MANIFEST_FORMAT_VERSION,
      id: run.id,
      source: run.source,
      engine: run.engine,
      serverVersion: dumped.serverVersion,
      kind: run.request.kind,
      ...chainFields(run.chain, dumped),
      ...run.fields,
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
      ...(many ? { targets: all.map((x) => ({ location: x.location, ok: !x.error, ...(x.error ? { error: `${x.error.code}: ${x.error.message}` } : {}) })) } : {}),
    };
  }

  /** Writes the manifest (last: its presence is what makes the backup exist), commits, records. */
  private async finish(run: BackupRun, t: Target, unsealed: Manifest): Promise<void> {
    const manifest = await writeSealedManifest(t.repo!.store, unsealed, { dataKey: t.encryption?.part.key, signer: run.signing });
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

  private fail(run: BackupRun, t: Target, err: unknown): void {
    t.error ??= this.wrap(err);
    if (run.repositories.length > 1) this.deps.logger.warn('target failed', { repository: t.location, code: t.error.code, error: t.error.message });
  }

  /** Removes the parts of targets that got no manifest (and aborts them), then closes every repository. */
  private async release(run: BackupRun, targets: Target[]): Promise<void> {
    for (const t of targets) {
      if (!t.repo) continue;
      if (!t.manifest) {
        const keys = (t.parts ?? []).map((p) => partKey(run.source, run.id, p.name));
        await removeWritten(t.repo.store, keys, this.deps.logger, run.id);
        await t.repo.abort().catch(() => undefined);
      }
      await t.repo.close().catch(() => undefined);
    }
  }

  /** The engine waits on the server (or goes on): a progress line says what for, and the log. */
  private waiting(run: BackupRun, log: Logger, waiting: string | undefined): void {
    this.deps.progress.start(waiting ? `backup ${run.source}: ${waiting}` : `backup ${run.source}`);
    if (waiting) {
      this.deps.progress.advance(0);
      log.info(waiting);
    }
  }

  private codecSteps(run: BackupRun, forced: string[] | undefined): CodecStep[] {
    const ids = forced ?? (run.compression.codec === 'none' ? [] : [run.compression.codec]);
    return ids.map((id) => ({ codec: this.deps.codecs.get(id), level: forced ? undefined : run.compression.level }));
  }
}

function result(t: Target, failure?: DbBackupError): TargetResult {
  return t.manifest
    ? { repository: t.location, ok: true, manifest: t.manifest, archiveSize: t.archiveSize }
    : { repository: t.location, ok: false, error: t.error ?? failure };
}
