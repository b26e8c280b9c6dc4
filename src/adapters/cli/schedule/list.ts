import { Command } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import type { CliServices } from '../context.js';
import { table } from '../render.js';
import { outcomeText, viewJson, when } from './schedule-render.js';

export class ScheduleListCommand extends BaseCommand {
  static override paths = [['schedule', 'list']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'List schedules: from the config and added with `schedule add`, with next and last run',
    examples: [['List the schedules', '$0 schedule list'], ['As JSON', '$0 schedule list --json']],
  });

  protected async run(services: CliServices): Promise<number> {
    const views = await services.manageSchedules.list();
    const rows = views.map((v) => [
      v.name,
      v.origin,
      v.enabled ? 'yes' : 'no',
      `${v.cron} (${v.timezone})`,
      `${v.task}${v.kind ? ` ${v.kind}` : ''}`,
      v.source,
      when(v.nextRun),
      when(v.lastRunAt),
      outcomeText(v),
    ]);
    this.print(
      views.length === 0
        ? 'No schedules. Add one with `dbbackup schedule add` or under schedules: in the config file.'
        : table(['name', 'origin', 'enabled', 'cron', 'task', 'source', 'next run', 'last run', 'last outcome'], rows),
      { ok: true, schedules: views.map(viewJson) },
    );
    return this.ok();
  }
}
