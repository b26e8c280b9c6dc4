import { isBackupKind } from '../../domain/backup-kind.js';
import { DbBackupError, isDbBackupError } from '../../domain/errors.js';
import { redact } from '../../infrastructure/redact.js';
import type { DashboardDeps } from './dashboard-deps.js';
import type { JobView } from './live-events.js';

const KEEP_JOBS = 50;

/**
 * The dashboard's actions (backup now, verify, pin/unpin, restore --dry-run), run one at a time
 * through the use-cases, each logged when asked for and when finished, and published to open pages.
 * A second action while one runs is refused (E_BUSY → 409): progress lines name one job.
 */
export class DashboardJobs {
  private readonly jobs: JobView[] = [];
  private nextId = 1;
  private running: JobView | undefined;
  private settled: Promise<void> = Promise.resolve();
  /** Set after every finished job, so that cached views (windows) are read again. */
  onFinished: () => void = () => {};

  constructor(
    private readonly deps: DashboardDeps,
    private readonly signal: AbortSignal,
  ) {}

  /** Resolves once no action runs (at shutdown: an aborted backup cleans up before the catalog closes). */
  idle(): Promise<void> {
    return this.settled;
  }

  list(): JobView[] {
    return [...this.jobs];
  }

  backup(source: string, kind: string | undefined): JobView {
    if (!this.deps.sources.some((s) => s.name === source)) throw new DbBackupError('E_USAGE', `"${source}" is not a source of the config; only configured sources can be backed up from the page.`);
    if (kind !== undefined && !isBackupKind(kind)) throw new DbBackupError('E_USAGE', `kind must be full, incremental or differential; got "${kind}".`);
    return this.start('backup', source, async (signal) => {
      const s = await this.deps.scheduledSource(source);
      const r = await this.deps.useCases.runBackup.execute({ ...s.backup, kind: kind ?? s.defaultKind ?? 'full' }, signal);
      return `backup ${r.manifest.id} (${r.manifest.kind}) complete in ${r.repository}`;
    });
  }

  verify(id: string, repository: string | undefined): JobView {
    return this.start('verify', id, async (signal) => {
      const entry = (await this.deps.useCases.listBackups.execute({}, signal)).backups.find((b) => b.id === id && (repository === undefined || b.repository === repository));
      if (!entry) throw new DbBackupError('E_BACKUP_NOT_FOUND', `The catalog knows no backup ${id}.`);
      const s = this.deps.sources.some((x) => x.name === entry.source) ? await this.deps.scheduledSource(entry.source) : undefined;
      const r = await this.deps.useCases.verifyBackup.execute({ repository: entry.repository, backup: id, source: entry.source, keys: s?.keys, trust: s?.trust }, signal);
      return `backup ${r.manifest.id} is intact: ${r.checks.length} parts in ${r.chain.length} backup(s) verified`;
    });
  }

  pin(id: string, pinned: boolean): JobView {
    return this.start(pinned ? 'pin' : 'unpin', id, async (signal) => {
      const r = await this.deps.useCases.pinBackup.execute({ backup: id, pinned }, signal);
      return r.repositories.map((x) => `${x.repository}: ${x.changed ? (pinned ? 'pinned' : 'unpinned') : `already ${pinned ? 'pinned' : 'unpinned'}`}`).join('; ');
    });
  }

  /** Runs `dbbackup restore … --dry-run` (the command the page shows); its output is the summary. */
  restoreDryRun(id: string, args: string[]): JobView {
    return this.start('restore-dry-run', id, async (signal) => {
      const r = await this.deps.runCli([...args, '--dry-run'], signal);
      if (r.code !== 0) throw new DbBackupError('E_RESTORE_FAILED', `restore --dry-run exited ${r.code}:\n${r.output}`);
      return r.output;
    });
  }

  private start(action: JobView['action'], subject: string, work: (signal: AbortSignal) => Promise<string>): JobView {
    if (this.running) throw new DbBackupError('E_BUSY', `Another action (${this.running.action} ${this.running.subject}) is running; wait for it to finish.`);
    const job: JobView = { id: this.nextId++, action, subject, state: 'running', startedAt: new Date().toISOString() };
    this.running = job;
    this.jobs.unshift(job);
    this.jobs.length = Math.min(this.jobs.length, KEEP_JOBS);
    const log = this.deps.logger.child({ job: job.id, action, subject });
    log.info('action started');
    this.deps.events.currentJob = job.id;
    this.deps.events.publish({ type: 'job', job: { ...job } });
    this.settled = work(this.signal).then(
      (summary) => this.finish(job, { state: 'succeeded', summary: redact(summary) }),
      (err: unknown) => {
        const code = isDbBackupError(err) ? err.code : 'E_INTERNAL';
        this.finish(job, { state: 'failed', errorCode: code, summary: redact(`${code}: ${(err as Error)?.message ?? String(err)}`) });
      },
    );
    return { ...job };
  }

  private finish(job: JobView, result: Pick<JobView, 'state' | 'summary' | 'errorCode'>): void {
    Object.assign(job, result, { finishedAt: new Date().toISOString() });
    this.running = undefined;
    this.deps.events.currentJob = undefined;
    const log = this.deps.logger.child({ job: job.id, action: job.action, subject: job.subject });
    if (job.state === 'succeeded') log.info('action finished', { summary: job.summary?.slice(0, 500) });
    else log.warn('action failed', { code: job.errorCode, message: job.summary?.slice(0, 500) });
    this.onFinished();
    this.deps.events.publish({ type: 'job', job: { ...job } });
  }
}
