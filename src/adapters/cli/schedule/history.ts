import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { BaseCommand } from '../base-command.js';
import type { CliServices } from '../context.js';
import { historyTable, runJson } from './schedule-render.js';

export class ScheduleHistoryCommand extends BaseCommand {
  static override paths = [['schedule', 'history']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Show the run history (runs, skips and missed runs), newest first',
    examples: [['The last 20 runs of every schedule', '$0 schedule history'], ['One schedule, as JSON', '$0 schedule history main-backup --limit 100 --json']],
  });

  name = Option.String({ required: false, name: 'NAME' });
  queue = Option.String('--queue', { description: 'Fleet mode: read the fleet\'s history from this Redis (else DBBACKUP_QUEUE or queue: in the config)' });
  limit = Option.String('--limit', '20', { validator: t.isNumber(), description: 'How many entries (default 20)' });

  protected async run(services: CliServices): Promise<number> {
    const runs = await services.manageSchedules.history(this.name, Math.max(1, this.limit));
    this.print(runs.length ? historyTable(runs) : 'No runs yet.', { ok: true, runs: runs.map(runJson) });
    return this.ok();
  }
}
