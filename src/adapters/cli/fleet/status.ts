import { Command, Option } from 'clipanion';
import type { FleetStatusView } from '../../../application/use-cases/fleet-status.js';
import { BaseCommand } from '../base-command.js';
import type { CliServices } from '../context.js';
import { table } from '../render.js';
import { when } from '../schedule/schedule-render.js';

export class FleetStatusCommand extends BaseCommand {
  static override paths = [['fleet', 'status']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Fleet mode: workers alive, jobs waiting/active/failed, the oldest due job, each source\'s last success',
    details: `
      Reads the fleet's Redis (--queue, DBBACKUP_QUEUE or queue: in the config) from any machine.
      A worker is alive while its heartbeat is younger than queue.lock-timeout. Exit 0, or 1 when
      no worker is alive while jobs are due.
    `,
    examples: [
      ['Status', '$0 fleet status --queue redis://redis.internal:6379'],
      ['As JSON', '$0 fleet status --json'],
    ],
  });

  queue = Option.String('--queue', { description: 'The fleet\'s Redis: redis://host:6379 or rediss:// (else DBBACKUP_QUEUE or queue: in the config)' });

  protected async run(services: CliServices): Promise<number> {
    const s = await services.fleetStatus();
    this.print(render(s), JSON.parse(JSON.stringify({ ok: true, ...s })) as unknown);
    const alive = s.workers.filter((w) => w.alive).length;
    return alive === 0 && (s.queue.waiting > 0 || s.queue.oldestDue !== undefined) ? 1 : this.ok();
  }
}

function render(s: FleetStatusView): string {
  const alive = s.workers.filter((w) => w.alive).length;
  const procs = [...s.schedulers.map((d) => ({ ...d, role: 'scheduler' })), ...s.workers.map((d) => ({ ...d, role: 'worker' }))];
  const q = s.queue;
  return [
    `Workers alive: ${alive} of ${s.workers.length} registered; schedulers alive: ${s.schedulers.filter((d) => d.alive).length}.`,
    procs.length ? table(['role', 'id', 'host', 'pid', 'since', 'heartbeat', 'alive'], procs.map((d) => [d.role, d.owner, d.host, String(d.pid), when(d.startedAt), when(d.heartbeatAt), d.alive ? 'yes' : 'NO'])) : '',
    `Jobs: ${q.waiting} waiting, ${q.active} active, ${q.delayed} scheduled, ${q.failed} failed, ${q.completed} completed (kept).`,
    `Oldest due job: ${q.oldestDue ? `${q.oldestDue.schedule}, due since ${when(q.oldestDue.dueAt)}` : 'none'}.`,
    s.sources.length
      ? table(
          ['source', 'schedules', 'last success', 'last outcome', 'failures', 'running on'],
          s.sources.map((x) => [x.source, x.schedules.join(','), when(x.lastSuccessAt), x.lastOutcome ?? '-', String(x.consecutiveFailures), x.running.join(',') || '-']),
        )
      : 'No schedules.',
  ]
    .filter(Boolean)
    .join('\n\n');
}
