import { Command, Option } from 'clipanion';
import { renderMetrics } from '../../scheduler/prometheus-metrics.js';
import { BaseCommand } from '../base-command.js';
import { configuredSlotSources, slotTable, warnOn } from '../slot/slot-sources.js';
import type { CliServices } from '../context.js';
import { formatBytes, formatDuration, table } from '../render.js';
import { outcomeText, runJson, viewJson, when } from './schedule-render.js';

export class ScheduleStatusCommand extends BaseCommand {
  static override paths = [['schedule', 'status']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Show the daemons and each schedule\'s state: last success, duration, size, failures',
    examples: [
      ['Status', '$0 schedule status'],
      ['In Prometheus text format', '$0 schedule status --prometheus'],
    ],
  });

  prometheus = Option.Boolean('--prometheus', false, { description: 'Print Prometheus metrics instead' });
  queue = Option.String('--queue', { description: 'Fleet mode: the fleet\'s status from this Redis (else DBBACKUP_QUEUE or queue: in the config)' });

  protected async run(services: CliServices): Promise<number> {
    const status = await services.manageSchedules.status();
    const slots = await services.manageCaptureSlots.status(configuredSlotSources(services.settings, undefined, warnOn(this.context.stderr)));
    if (this.prometheus) {
      this.context.stdout.write(renderMetrics(status, slots));
      return this.ok();
    }
    const daemons = status.daemons.length
      ? status.daemons.map((d) => `${d.role ?? 'daemon'} ${d.owner} (pid ${d.pid} on ${d.host}) since ${when(d.startedAt)}, last heartbeat ${when(d.heartbeatAt)}`).join('\n')
      : 'No scheduler daemon is running on this catalog.';
    const rows = status.schedules.map((v) => [
      v.name,
      v.enabled ? (v.running ? `running (${v.running.owner})` : 'idle') : 'disabled',
      when(v.lastSuccessAt),
      v.lastRun?.durationMs === undefined ? '-' : formatDuration(v.lastRun.durationMs),
      v.lastSuccess?.storedSize === undefined ? '-' : formatBytes(v.lastSuccess.storedSize),
      outcomeText(v),
      String(v.consecutiveFailures),
      when(v.nextRun),
    ]);
    const problems = status.problems.map((p) => `warning: schedule "${p.name}" (${p.origin}) will not run: ${p.problem}`).join('\n');
    this.print(
      [daemons, rows.length ? table(['schedule', 'state', 'last success', 'took', 'size', 'last outcome', 'failures', 'next run'], rows) : 'No schedules.', problems, slots.length ? `Capture slots:\n${slotTable(slots)}` : '']
        .filter(Boolean)
        .join('\n\n'),
      {
        ok: true,
        at: status.at.toISOString(),
        daemons: status.daemons.map((d) => JSON.parse(JSON.stringify(d)) as unknown),
        schedules: status.schedules.map((v) => ({ ...viewJson(v), lastRun: v.lastRun && runJson(v.lastRun), lastSuccess: v.lastSuccess && runJson(v.lastSuccess) })),
        counts: status.counts,
        problems: status.problems,
        slots,
      },
    );
    return this.ok();
  }
}
