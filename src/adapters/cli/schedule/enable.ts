import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import type { CliServices } from '../context.js';
import { viewJson, when } from './schedule-render.js';

abstract class ScheduleToggleCommand extends BaseCommand {
  name = Option.String({ required: true, name: 'NAME' });
  protected abstract readonly enable: boolean;

  protected async run(services: CliServices): Promise<number> {
    const v = await services.manageSchedules.setEnabled(this.name, this.enable);
    this.print(
      this.enable ? `Schedule "${v.name}" enabled; next run ${when(v.nextRun)}.` : `Schedule "${v.name}" disabled; it will not run until enabled.`,
      { ok: true, schedule: viewJson(v) },
    );
    return this.ok();
  }
}

export class ScheduleEnableCommand extends ScheduleToggleCommand {
  static override paths = [['schedule', 'enable']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Enable a schedule (runs missed while it was disabled are not caught up)',
    examples: [['Enable a schedule', '$0 schedule enable main-backup']],
  });
  protected readonly enable = true;
}

export class ScheduleDisableCommand extends ScheduleToggleCommand {
  static override paths = [['schedule', 'disable']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Disable a schedule (config-declared ones too; the setting is kept in the catalog)',
    examples: [['Disable a schedule', '$0 schedule disable main-backup']],
  });
  protected readonly enable = false;
}
