import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { DbBackupError } from '../../domain/errors.js';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';
import { durationFlag } from './schedule/schedule-render.js';
import { metricsWriter } from './schedule/metrics-file.js';

export class WorkerCommand extends BaseCommand {
  static override paths = [['worker']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Fleet mode: run the scheduled jobs of a queue (Redis), on any number of machines',
    details: `
      Takes the jobs that \`schedule run --queue\` publishes and runs each with the same use-cases
      as the local daemon: a slot runs once however many workers there are, a source never runs
      twice at once (an overlapping slot is skipped and recorded), slots missed while no worker
      ran are recorded (and caught up by the schedule's catch-up policy), and failures are
      retried, recorded and notified once. A worker killed mid-backup leaves no listed backup; its
      job is run again by another worker once its lock times out (queue.lock-timeout, default 60s).
      queue.target-limits caps how many runs write to one target at once, across the fleet.

      SIGTERM or SIGINT: no new jobs are taken; running ones get \`--stop-timeout\` to finish, then
      are cancelled; exit 0. Run history: \`schedule history\`, \`list --runs\`, \`fleet status\`.
    `,
    examples: [
      ['Run jobs, two at a time', '$0 worker --queue redis://redis.internal:6379 --concurrency 2'],
      ['Over TLS, the password from the environment', 'DBBACKUP_QUEUE_PASSWORD=… $0 worker --queue rediss://redis.internal:6380'],
    ],
  });

  queue = Option.String('--queue', { description: 'The fleet\'s Redis: redis://host:6379 or rediss:// (else DBBACKUP_QUEUE or queue: in the config)' });
  concurrency = Option.String('--concurrency', '1', { validator: t.isNumber(), description: 'Jobs this process runs at once (default 1)' });
  retries = Option.String('--retries', { validator: t.isNumber(), description: 'Retries of a failed run (default 2)' });
  retryDelay = Option.String('--retry-delay', { description: 'Wait before the first retry, doubling after (default 30s)' });
  stopTimeout = Option.String('--stop-timeout', { description: 'On stop, how long running jobs may take to finish (default 10m)' });
  grace = Option.String('--grace', { description: 'Catch up missed runs at most this old (default 24h)' });
  /** A worker waits out a Redis restart (5 min) rather than failing its run. */
  readonly queueOutageMs = 300_000;
  metrics = Option.String('--metrics', { description: 'Keep a Prometheus text file with the fleet\'s schedules up to date' });

  protected async run(services: CliServices): Promise<number> {
    if (this.dryRun) throw new DbBackupError('E_USAGE', '`worker` has no --dry-run; `schedule list` shows what would run and when.');
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1 || this.concurrency > 256) throw new DbBackupError('E_USAGE', '--concurrency must be a whole number from 1 to 256.');
    if (this.retries !== undefined && (!Number.isInteger(this.retries) || this.retries < 0)) throw new DbBackupError('E_USAGE', '--retries must be 0 or more.');
    const writeMetrics = metricsWriter(services, this.metrics, this.context.stderr);
    const worker = await services.worker({
      concurrency: this.concurrency,
      retries: this.retries,
      retryDelayMs: durationFlag('--retry-delay', this.retryDelay),
      stopTimeoutMs: durationFlag('--stop-timeout', this.stopTimeout),
      graceMs: durationFlag('--grace', this.grace),
      onRunFinished: writeMetrics,
    });
    await writeMetrics?.();
    await worker.execute(this.context.signal);
    await writeMetrics?.();
    return this.ok();
  }
}
