import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { DbBackupError, ExitCode } from '../../../domain/errors.js';
import { BaseCommand } from '../base-command.js';
import type { CliServices } from '../context.js';
import { durationFlag } from './schedule-render.js';
import { metricsWriter } from './metrics-file.js';

export class ScheduleRunCommand extends BaseCommand {
  static override paths = [['schedule', 'run']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Run the scheduler daemon in the foreground (for systemd, containers), or once (for cron)',
    details: `
      Runs every enabled schedule on time, each job in its own worker thread, and logs JSON lines
      to stdout and to the log file. Runs missed while no daemon was running are handled at start
      by each schedule's catch-up policy (default: one run, if within \`--grace\`). A schedule never
      runs twice at once, even with several daemons on one catalog: a run that would overlap is
      skipped and recorded. A failed run is retried (\`--retries\`, transient errors only), then
      recorded and notified.

      SIGTERM or SIGINT: no new runs start (a slot claimed at that moment is recorded as skipped);
      running jobs get \`--stop-timeout\` to finish, then are cancelled; exit 0. A second signal quits
      at once.

      \`--once\` runs what is due now (and missed runs, by policy) and exits: 0 when all succeeded,
      1 otherwise. Call it from cron every minute if you would rather not run a daemon.

      Fleet mode (\`--queue redis://…\`, DBBACKUP_QUEUE or \`queue:\` in the config): the schedules
      become the queue's job schedulers and this process runs nothing itself; \`dbbackup worker\`
      processes on any number of machines run the jobs. Any number of \`schedule run --queue\` may
      run (each slot is one job); \`--once\` publishes and exits.
    `,
    examples: [
      ['Run the daemon', '$0 schedule run'],
      ['From cron, every minute', '$0 schedule run --once --quiet'],
      ['Write Prometheus metrics for node_exporter', '$0 schedule run --metrics /var/lib/node_exporter/dbbackup.prom'],
      ['Fleet mode: publish the schedules to Redis', '$0 schedule run --queue redis://redis.internal:6379'],
    ],
  });

  once = Option.Boolean('--once', false, { description: 'Run what is due now, then exit' });
  grace = Option.String('--grace', { description: 'Catch up missed runs at most this old (default 24h)' });
  retries = Option.String('--retries', { validator: t.isNumber(), description: 'Retries of a failed run (default 2)' });
  retryDelay = Option.String('--retry-delay', { description: 'Wait before the first retry, doubling after (default 30s)' });
  stopTimeout = Option.String('--stop-timeout', { description: 'On stop, how long running jobs may take to finish (default 10m)' });
  lockTimeout = Option.String('--lock-timeout', { description: 'A lock not renewed for this long is a dead daemon\'s and is taken over (default 60s)' });
  metrics = Option.String('--metrics', { description: 'Keep a Prometheus text file with the schedules\' state up to date' });
  /** The fleet publisher waits out a Redis restart (5 min). */
  readonly queueOutageMs = 300_000;
  queue = Option.String('--queue', { description: 'Fleet mode: publish the schedules to this Redis (redis:// or rediss://); `dbbackup worker` runs them' });

  protected async run(services: CliServices): Promise<number> {
    if (this.dryRun) throw new DbBackupError('E_USAGE', '`schedule run` has no --dry-run; `schedule list` shows what would run and when.');
    if (this.retries !== undefined && (!Number.isInteger(this.retries) || this.retries < 0)) throw new DbBackupError('E_USAGE', '--retries must be 0 or more.');
    const lockStaleMs = durationFlag('--lock-timeout', this.lockTimeout);
    const writeMetrics = metricsWriter(services, this.metrics, this.context.stderr);
    const scheduler = await services.scheduler({
      graceMs: durationFlag('--grace', this.grace),
      retries: this.retries,
      retryDelayMs: durationFlag('--retry-delay', this.retryDelay),
      stopTimeoutMs: durationFlag('--stop-timeout', this.stopTimeout),
      lockStaleMs,
      heartbeatMs: lockStaleMs === undefined ? undefined : Math.max(250, Math.floor(lockStaleMs / 4)),
      onRunFinished: writeMetrics,
    });
    await writeMetrics?.();
    // The config's `replicate:` sources run beside the daemon (not with --once: they never end).
    const replicas = this.once ? undefined : services.replicas(this.context.signal);
    const summary = await scheduler.execute({ once: this.once }, this.context.signal);
    await replicas;
    await writeMetrics?.();
    if (!this.once) return this.ok();
    this.print(`${summary.runs} run(s), ${summary.failures} failed, ${summary.skipped} skipped.`, { ok: summary.failures === 0, ...summary });
    return summary.failures > 0 ? ExitCode.failed : this.ok();
  }
}
