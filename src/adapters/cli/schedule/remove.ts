import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import type { CliServices } from '../context.js';

export class ScheduleRemoveCommand extends BaseCommand {
  static override paths = [['schedule', 'remove']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Remove a schedule added with `schedule add` (its run history is kept)',
    examples: [['Remove a schedule', '$0 schedule remove main-backup']],
  });

  name = Option.String({ required: true, name: 'NAME' });

  protected async run(services: CliServices): Promise<number> {
    await services.manageSchedules.remove(this.name);
    this.print(`Schedule "${this.name}" removed.`, { ok: true, removed: this.name });
    return this.ok();
  }
}
