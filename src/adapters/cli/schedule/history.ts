import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { BaseCommand } from '../base-command.js';
import type { CliServices } from '../context.js';
import { formatDuration, table } from '../render.js';
import { runJson, when } from './schedule-render.js';

export class ScheduleHistoryCommand extends BaseCommand {
  static override paths = [['schedule', 'history']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Show the run history (runs, skips and missed runs), newest first',
    examples: [['The last 20 runs of every schedule', '$0 schedule history'], ['One schedule, as JSON', '$0 schedule history main-backup --limit 100 --json']],
  });

  name = Option.String({ required: false, name: 'NAME' });
  limit = Option.String('--limit', '20', { validator: t.isNumber(), description: 'How many entries (default 20)' });

  protected async run(services: CliServices): Promise<number> {
    const runs = await services.manageSchedules.history(this.name, Math.max(1, this.limit));
    const rows = runs.map((r) => [
      String(r.id),
      r.schedule,
      when(r.slot),
      r.trigger,
      when(r.startedAt),
      r.durationMs === undefined ? '-' : formatDuration(r.durationMs),
      r.outcome,
      r.attempts ? String(r.attempts) : '-',
      r.backupId ?? (r.errorCode ? `${r.errorCode}: ${r.errorMessage ?? ''}` : (r.note ?? '')),
    ]);
    this.print(runs.length ? table(['id', 'schedule', 'slot', 'trigger', 'started', 'took', 'outcome', 'tries', 'backup / error'], rows) : 'No runs yet.', {
      ok: true,
      runs: runs.map(runJson),
    });
    return this.ok();
  }
}
