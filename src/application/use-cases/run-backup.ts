import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { newBackupId } from '../../domain/backup-id.js';
import type { BackupKind } from '../../domain/backup-kind.js';
import { CHAIN_ENDING_CODES, DbBackupError, isAbortError, isDbBackupError, isNoSpace, noSpaceError } from '../../domain/errors.js';
import { MANIFEST_FORMAT_VERSION, type Manifest, type ScheduledRunRef, totalRawSize, totalStoredSize } from '../../domain/manifest.js';
import { isValidSourceName } from '../../domain/repository-layout.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { ConnectionTarget } from '../ports/connection-target.js';
import type { ConnectorRegistry } from '../ports/connector-registry.js';
import type { DatabaseSession } from '../ports/database-session.js';
import type { DatabaseConnector } from '../ports/database-connector.js';
import type { Notifier, NotificationThrottle, OutcomeEvent } from '../ports/notifier.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { ManifestSigner } from '../ports/manifest-signer.js';
import type { TargetOutcomes } from '../ports/target-outcomes.js';
import type { PendingSlots } from '../ports/pending-slots.js';
import { dropLeftSlots, RunSlots } from '../services/left-capture-slots.js';
import { notifyAll } from '../services/notify.js';
import { releaseCapture } from './backup-capture.js';
import { DEFAULT_SLOT_WARN_BYTES, alertSlots, slotWarnings } from '../services/slot-alerts.js';
import { openParent, type ParentLink, requireParentIn, type RunChain } from './backup-chain.js';
import { type BackupRun, type BackupRunOutcome, BackupTargets, type BackupTargetsDeps, type TargetResult } from './backup-targets.js';

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
  /** Encrypt every part under a fresh data key wrapped by this key (the manifest is MACed with it). */
  encryption?: KeyEncryptionKey;
  /** Sign the manifest with this key (restores check it with --verify-key). */
  signing?: ManifestSigner;
  /** Store a plaintext backup even in an encrypted repository (a migration; refused otherwise). */
  allowUnencrypted?: boolean;
  /**
   * Several repositories: `concurrent` (default) tees the one dump into all of them at once;
   * `sequential` writes the first, then copies its stored bytes to the others.
   */
  fanout?: 'concurrent' | 'sequential';
  /** An incremental or differential with no usable parent (or an engine without change capture) takes a full instead. */
  autoFull?: boolean;
  /** Past this much retained log, the source's capture slots are warned about (log and notification); default 1 GiB. */
  slotWarnBytes?: number;
  /** The scheduled run taking this backup, recorded in its manifest (see Manifest.scheduledRun). */
  scheduledRun?: ScheduledRunRef;
  /**
   * Read the database at most this many raw bytes per second, over all its parts and connections
   * (`--max-rate`): a longer backup that costs the source less per second. Unlimited when unset.
   */
  maxRate?: number;
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

export interface RunBackupDeps extends BackupTargetsDeps {
  /** The backup index, and where a multi-target run's per-target outcomes go. */
  catalog: BackupCatalog & TargetOutcomes;
  connectors: ConnectorRegistry;
  notifiers?: Notifier[];
  throttle?: NotificationThrottle;
  /** Capture slots recorded before they are created, so a killed run's is dropped by the next run (see left-capture-slots.ts). */
  pendingSlots?: PendingSlots;
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
    // What the session will need starts now, while the parent is looked up (SQLite: its page reader).
    const warm = input.dryRun ? undefined : connector.warmUp?.(input.target);
    try {
      return await this.executeWith(connector, input, signal);
    } finally {
      await warm?.release();
    }
  }

  private async executeWith(connector: DatabaseConnector, input: RunBackupInput, signal: AbortSignal): Promise<RunBackupResult> {
    const source = input.source ?? connector.defaultSourceName(input.target);
    if (!isValidSourceName(source)) {
      throw new DbBackupError('E_USAGE', `Source name "${source}" is not valid: use letters, digits, '.', '_' and '-' (at most 100).`);
    }
    const repositories = Array.isArray(input.repository) ? input.repository : [input.repository];
    if (repositories.length === 0) throw new DbBackupError('E_USAGE', 'No repository to back up into; give --out or configure targets.');
    if (input.kind !== 'full' && (input.tables !== undefined || input.excludeTables !== undefined)) {
      // The engines capture the whole database's changes (pages, log records): a filter would be ignored.
      throw new DbBackupError(
        'E_USAGE',
        `--tables and --exclude-tables apply to full backups only: ${input.kind === 'incremental' ? 'an incremental' : 'a differential'} holds every change to the database since its parent. Take it without them; \`restore --tables\` picks tables from any chain.`,
      );
    }
    let chain: RunChain = { positions: connector.capabilities.changes !== undefined, pointInTime: connector.capabilities.changes?.pointInTime === true };
    if (input.kind !== 'full' && !connector.capabilities.changes) {
      const reason = `${connector.engine} backups cannot capture changes yet`;
      if (!input.autoFull) throw new DbBackupError('E_UNSUPPORTED', `${input.kind} backups of ${connector.engine} databases are not supported yet; run a full backup (--type full), or pass --auto-full.`);
      chain.fallback = { requested: input.kind, reason };
    } else if (input.kind !== 'full') {
      try {
        chain = await this.withParent(chain, input, input.kind, source, repositories);
      } catch (err) {
        // No parent: a failed backup like any other (recorded and notified), before any snapshot.
        const failure = this.wrap(err, signal);
        if (input.dryRun) throw failure;
        const run = this.newRun(input, source, repositories, chain, signal);
        return this.conclude(run, { targets: repositories.map((repository) => ({ repository, ok: false, error: failure })), failure });
      }
    }
    try {
      let run = this.newRun(input, source, repositories, chain, signal);
      const first = await this.attempt(connector, input, run, source);
      if ('dryRun' in first) return first;
      let outcome = first;
      if (chain.parent && input.autoFull && outcome.failure && CHAIN_ENDING_CODES.includes(outcome.failure.code)) {
        // The engine found the parent's position out of reach only while reading: start over as a full.
        this.deps.logger.warn('no usable parent; taking a full backup instead (--auto-full)', { reason: withoutFix(outcome.failure.message) });
        run = this.newRun(input, source, repositories, { positions: chain.positions, pointInTime: chain.pointInTime, fallback: { requested: input.kind as 'incremental' | 'differential', reason: withoutFix(outcome.failure.message) } }, signal);
        outcome = (await this.attempt(connector, input, run, source)) as BackupRunOutcome;
      }
      return await this.conclude(run, outcome);
    } finally {
      await chain.parent?.repo.close().catch(() => undefined);
    }
  }

  /** The chain of an incremental/differential: its parent, or with --auto-full a full's fallback when none is usable. */
  private async withParent(chain: RunChain, input: RunBackupInput, kind: 'incremental' | 'differential', source: string, repositories: string[]): Promise<RunChain> {
    const repository = repositories[0]!;
    let parent: ParentLink | undefined;
    try {
      parent = await openParent(this.deps, repository, source, kind, input.encryption);
      await requireParentIn(this.deps, repositories.slice(1), parent, kind);
      return { ...chain, parent };
    } catch (err) {
      await parent?.repo.close().catch(() => undefined);
      if (!input.autoFull || !isDbBackupError(err, 'E_NO_PARENT')) throw err;
      this.deps.logger.warn('no usable parent; taking a full backup instead (--auto-full)', { reason: withoutFix(err.message) });
      return { ...chain, fallback: { requested: kind, reason: withoutFix(err.message) } };
    }
  }

  private newRun(input: RunBackupInput, source: string, repositories: string[], chain: RunChain, signal: AbortSignal): BackupRun {
    const kind = chain.fallback ? 'full' : input.kind;
    const started = this.deps.clock.now();
    return {
      source,
      id: newBackupId(started, kind),
      engine: input.target.engine,
      request: { kind, tables: input.tables, excludeTables: input.excludeTables, parallel: input.parallel, source },
      compression: input.compression,
      encryption: input.encryption,
      dataKey: input.encryption ? randomBytes(32) : undefined,
      signing: input.signing,
      allowUnencrypted: input.allowUnencrypted,
      fanout: input.fanout ?? 'concurrent',
      ...(input.maxRate ? { maxRate: input.maxRate } : {}),
      repositories,
      startedAt: started,
      signal,
      chain,
      ...(input.scheduledRun ? { fields: { scheduledRun: input.scheduledRun } } : {}),
    };
  }

  /** Connects, dumps (or reads changes) into every target; a failure comes back in the outcome. */
  private async attempt(connector: DatabaseConnector, input: RunBackupInput, run: BackupRun, source: string): Promise<BackupRunOutcome | RunBackupResult> {
    try {
      const session = await connector.connect(input.target, 'backup');
      try {
        await session.test();
        if (input.dryRun) return await this.preview(session, input, run, source, run.repositories[0]!);
        // A capture slot a killed run of the source left (never named by a complete backup) holds the server's log: dropped first.
        await dropLeftSlots(this.deps, session, source, run.repositories);
        const slots = new RunSlots(this.deps, source, run.repositories);
        run.request.beforeSlot = slots.beforeSlot;
        let outcome: BackupRunOutcome | undefined;
        try {
          outcome = await new BackupTargets(this.deps, (err) => this.wrap(err, run.signal)).write(session, run);
        } finally {
          await slots
            .settle(session, (outcome?.targets ?? []).flatMap((t) => (t.ok && t.manifest ? [t.manifest] : [])))
            .catch((err: unknown) => this.deps.logger.warn('could not settle the capture slots of this run; the next run of the source checks them', { source, error: String((err as Error)?.message ?? err) }));
        }
        // Before the session closes: the capture's position is released only once every target holds the backup.
        await releaseCapture(this.deps, session, run, outcome);
        if (outcome.targets.some((t) => t.manifest?.logPosition?.slot !== undefined)) await this.watchSlots(session, run, input.slotWarnBytes ?? DEFAULT_SLOT_WARN_BYTES);
        return outcome;
      } finally {
        await session.close();
      }
    } catch (err) {
      const failure = this.wrap(err, run.signal);
      return { targets: run.repositories.map((repository) => ({ repository, ok: false, error: failure })), failure };
    }
  }

  /** After the release of a backup that captures changes: the source's capture slots that hold too much log (or were lost) are logged and notified. */
  private async watchSlots(session: DatabaseSession, run: BackupRun, warnBytes: number): Promise<void> {
    const slots = session.slots;
    if (!slots) return;
    try {
      const found = await slots.list(slots.captureNameOf(run.source));
      await alertSlots(this.deps, run.source, found, slotWarnings(found, warnBytes));
    } catch (err) {
      this.deps.logger.warn('could not look at the capture slots after the backup', { source: run.source, error: String((err as Error)?.message ?? err) });
    }
  }

  /**
   * The run's result from its targets': success, E_PARTIAL when some failed, else the run's or the
   * first target's error. Either way the outcome is recorded and the notifiers told before it returns.
   */
  private async conclude(run: BackupRun, outcome: BackupRunOutcome): Promise<RunBackupResult> {
    const results = outcome.targets;
    const ok = results.filter((t) => t.ok);
    const error =
      outcome.failure ??
      (ok.length === 0
        ? (results[0]!.error ?? new DbBackupError('E_BACKUP_FAILED', 'The backup reached no target.'))
        : ok.length < results.length
          ? new DbBackupError(
              'E_PARTIAL',
              `The backup reached ${ok.length} of ${results.length} targets; failed: ` +
                results.filter((t) => !t.ok).map((t) => `${t.repository} (${t.error!.code}: ${t.error!.message})`).join('; '),
              { details: { targets: results.map((t) => ({ repository: t.repository, ok: t.ok, id: t.manifest?.id, error: t.error?.code })) } },
            )
          : undefined);
    await this.finishRun(run, results, error);
    if (error) throw error;
    return { manifest: ok[0]!.manifest!, repository: ok[0]!.repository, dryRun: false, archiveSize: ok[0]!.archiveSize, targets: results };
  }

  /** Records each target's outcome (multi-target runs) and tells the notifiers. */
  private async finishRun(run: BackupRun, results: TargetResult[], error: DbBackupError | undefined): Promise<void> {
    if (results.length > 1) {
      const outcomes = results.map((t) => ({ repository: t.repository, ok: t.ok, errorCode: t.error?.code, errorMessage: t.error?.message }));
      await this.deps.catalog
        .recordOutcomes(run.source, run.id, outcomes)
        .catch((err: unknown) => this.deps.logger.warn("could not record the targets' outcomes in the catalog", { error: String(err) }));
    }
    await this.report(run, results, error);
  }

  private async preview(session: DatabaseSession, input: RunBackupInput, run: BackupRun, source: string, repository: string): Promise<RunBackupResult> {
    const objects = await session.inspect({ tables: input.tables, excludeTables: input.excludeTables });
    const now = this.deps.clock.now();
    const manifest: Manifest = {
      formatVersion: MANIFEST_FORMAT_VERSION,
      id: newBackupId(now, run.request.kind),
      source,
      engine: input.target.engine,
      serverVersion: '',
      kind: run.request.kind,
      parent: run.chain?.parent?.parent.id ?? null,
      baseFull: run.chain?.parent?.baseFull.id ?? null,
      ...(run.chain?.fallback ? { fallback: run.chain.fallback } : {}),
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

  private async report(run: BackupRun, targets: TargetResult[], error: DbBackupError | undefined): Promise<void> {
    if (!this.deps.notifiers?.length) return;
    const ok = targets.find((t) => t.ok);
    const event: OutcomeEvent = {
      outcome: error === undefined ? 'success' : ok ? 'partial' : 'failure',
      task: 'backup',
      source: run.source,
      kind: run.request.kind,
      ...(run.chain?.fallback ? { fallback: run.chain.fallback } : {}),
      backupId: ok?.manifest?.id,
      repository: ok?.repository,
      storedSize: ok?.manifest ? (ok.archiveSize ?? totalStoredSize(ok.manifest)) : undefined,
      rawSize: ok?.manifest ? totalRawSize(ok.manifest) : undefined,
      durationMs: this.deps.clock.now().getTime() - run.startedAt.getTime(),
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
    if (isNoSpace(err)) return noSpaceError(err, 'the backup', 'free space (in the repository or archive folder, or TMPDIR for temp copies) or choose another --out.');
    return new DbBackupError('E_BACKUP_FAILED', `The backup failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

/** An E_NO_PARENT message without its advice (which --auto-full just followed). */
function withoutFix(message: string): string {
  return message.replace(/\s*Take a full backup instead[\s\S]*$/, '').replace(/;?\s*take a full backup\.?$/, '');
}
