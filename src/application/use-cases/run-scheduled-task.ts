import type { BackupKind } from '../../domain/backup-kind.js';
import { DbBackupError, isAbortError, isDbBackupError } from '../../domain/errors.js';
import { type ScheduledRunRef, totalRawSize, totalStoredSize } from '../../domain/manifest.js';
import type { ScheduleTask } from '../../domain/schedule.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { JobOutcome } from '../ports/schedule-job-runner.js';
import type { ManifestTrust } from '../services/manifest-auth.js';
import type { RunBackup, RunBackupInput } from './run-backup.js';
import type { VerifyBackup } from './verify-backup.js';
import type { VerifyRestore } from './verify-restore.js';

/** A configured source as a scheduled task needs it (from the config, secrets resolved). */
export interface ScheduledSource {
  /** RunBackup's input for this source, less the kind. */
  backup: Omit<RunBackupInput, 'kind' | 'dryRun'>;
  /** The kind the source's backup policy names, if any. */
  defaultKind?: BackupKind;
  /** Its repositories, first = primary. */
  repositories: string[];
  /** Keys that open its encrypted backups (for the verify task). */
  keys?: KeyEncryptionKey[];
  /** What its backups must prove to the verify task (encrypted when the policy says so; signed with a verify key). */
  trust?: ManifestTrust;
  /** The server the verify-restore task makes its scratch database on (the source's `scratch:`); file engines need none. */
  scratch?: string;
}

export interface RunScheduledTaskDeps {
  runBackup: RunBackup;
  verifyBackup: VerifyBackup;
  /** `verify --deep` (the verify-restore task; without it that task fails with E_UNSUPPORTED). */
  verifyRestore?: VerifyRestore;
  /** Resolves a source name; throws E_CONFIG when the config does not declare it (or its keys are missing). */
  source: (name: string) => ScheduledSource | Promise<ScheduledSource>;
  /** Applies the source's retention policy to each of its repositories (without it, `prune` fails with E_UNSUPPORTED). */
  prune?: (source: ScheduledSource, name: string, signal: AbortSignal) => Promise<void>;
}

/**
 * One attempt of a scheduled task, inside a job worker: backup (the source's configured
 * targets and policy), verify (the latest backup in each of its repositories), verify-restore
 * (the latest backup in its first repository, checked and restored into a scratch database whose
 * every table is compared with what the backup recorded) or prune.
 * Never throws: the outcome carries the error code and message.
 */
export class RunScheduledTask {
  constructor(private readonly deps: RunScheduledTaskDeps) {}

  async execute(input: { task: ScheduleTask; source: string; kind?: BackupKind; scheduledRun?: ScheduledRunRef }, signal: AbortSignal): Promise<JobOutcome> {
    try {
      const source = await this.deps.source(input.source);
      if (source.repositories.length === 0) {
        throw new DbBackupError('E_CONFIG', `Source "${input.source}" has no targets in the config (backups.${input.source}.targets); add some.`);
      }
      switch (input.task) {
        case 'backup':
          return await this.backup(source, input.kind ?? source.defaultKind ?? 'full', input.scheduledRun, signal);
        case 'verify':
          return await this.verify(source, input.source, signal);
        case 'verify-restore':
          return await this.verifyRestore(source, input.source, signal);
        case 'prune':
          if (!this.deps.prune) {
            throw new DbBackupError('E_UNSUPPORTED', 'The prune (retention) task is not available here; disable this schedule.');
          }
          await this.deps.prune(source, input.source, signal);
          return { outcome: 'success' };
      }
    } catch (err) {
      return failure(err, signal);
    }
  }

  private async backup(source: ScheduledSource, kind: BackupKind, scheduledRun: ScheduledRunRef | undefined, signal: AbortSignal): Promise<JobOutcome> {
    const result = await this.deps.runBackup.execute({ ...source.backup, kind, ...(scheduledRun ? { scheduledRun } : {}) }, signal);
    const m = result.manifest;
    return {
      outcome: 'success',
      backupId: m.id,
      repository: result.repository,
      kind: m.kind,
      storedSize: result.archiveSize ?? totalStoredSize(m),
      rawSize: totalRawSize(m),
    };
  }

  private async verify(source: ScheduledSource, name: string, signal: AbortSignal): Promise<JobOutcome> {
    let last: JobOutcome = { outcome: 'success' };
    for (const repository of source.repositories) {
      const r = await this.deps.verifyBackup.execute({ repository, backup: 'latest', source: name, keys: source.keys, trust: source.trust }, signal);
      last = { outcome: 'success', backupId: r.manifest.id, repository: r.repository, kind: r.manifest.kind };
    }
    return last;
  }

  private async verifyRestore(source: ScheduledSource, name: string, signal: AbortSignal): Promise<JobOutcome> {
    if (!this.deps.verifyRestore) throw new DbBackupError('E_UNSUPPORTED', 'The verify-restore task is not available here; disable this schedule.');
    const { keys, trust } = source;
    const r = await this.deps.verifyBackup.execute({ repository: source.repositories[0]!, backup: 'latest', source: name, keys, trust }, signal);
    const deep = await this.deps.verifyRestore
      .execute({ repository: r.repository, manifest: r.manifest, scratch: source.scratch ? { url: source.scratch } : undefined, keys, trust }, signal)
      .catch((err: unknown) => {
        if (source.scratch || !isDbBackupError(err, 'E_USAGE')) throw err;
        throw new DbBackupError('E_CONFIG', `verify-restore of source "${name}" needs a server for its scratch database: set sources.${name}.scratch to a server URL (a database is created there and dropped after). ${(err as Error).message}`, { cause: err });
      });
    const rows = deep.tables.reduce((n, t) => n + (t.rows ?? 0), 0);
    return {
      outcome: 'success',
      backupId: r.manifest.id,
      repository: r.repository,
      kind: r.manifest.kind,
      note: `restored into ${deep.scratch}: ${deep.tables.length} table(s), ${rows} rows, as recorded (${deep.tables.filter((t) => t.expectedHash || t.expectedPagesHash).length} with contents hashed)`,
    };
  }
}

function failure(err: unknown, signal: AbortSignal): JobOutcome {
  if (signal.aborted || isAbortError(err)) {
    return { outcome: 'interrupted', error: { code: 'E_INTERRUPTED', message: 'The run was cancelled (the scheduler was stopping).' } };
  }
  if (isDbBackupError(err, 'E_PARTIAL')) {
    const targets = (err.details.targets ?? []) as { ok: boolean; id?: string; repository: string }[];
    const ok = targets.find((t) => t.ok);
    return { outcome: 'partial', backupId: ok?.id, repository: ok?.repository, error: { code: err.code, message: err.message } };
  }
  if (isDbBackupError(err)) return { outcome: 'failure', error: { code: err.code, message: err.message } };
  return { outcome: 'failure', error: { code: 'E_INTERNAL', message: `Unexpected error: ${(err as Error)?.message ?? String(err)}` } };
}
