import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { backupKinds, type BackupKind } from '../../../domain/backup-kind.js';
import { catchUpPolicies, type CatchUpPolicy, scheduleTasks, type ScheduleTask } from '../../../domain/schedule.js';
import { BaseCommand } from '../base-command.js';
import type { CliServices } from '../context.js';
import { describeSchedule, viewJson, when } from './schedule-render.js';

export class ScheduleAddCommand extends BaseCommand {
  static override paths = [['schedule', 'add']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Add a schedule (kept in the catalog; the daemon picks it up within seconds)',
    details: `
      Runs a task for a source from the config on a cron schedule: \`backup\` (to the source's
      targets, with its policy), \`verify\` (the latest backup in each target), \`verify-restore\`
      (\`verify --deep\` of the latest backup in its first target: restored into a scratch database
      on the server the source's \`scratch:\` URL names — SQLite needs none — and every table's
      row count and content hash compared with what the backup recorded) or \`prune\` (its
      retention policy). Cron: 5 fields (minute hour day-of-month month day-of-week), 6 with a
      leading seconds field, or @hourly, @daily, @weekly, @monthly, @yearly. Times are in
      \`--timezone\` (default: this machine's zone); across DST changes a skipped time runs when
      the clocks jump and a repeated time runs once. A bad expression is refused with the reason.

      \`--catch-up\` says what to do with runs missed while no daemon was running: once (default:
      one run, within the daemon's grace window), all (each one) or none.
    `,
    examples: [
      ['Full backup of "main" every night at 02:00', '$0 schedule add --cron "0 2 * * *" --task backup --source main --type full'],
      ['Verify every Sunday at 05:30 Berlin time', '$0 schedule add --cron "30 5 * * SUN" --task verify --source main --timezone Europe/Berlin'],
      ['Restore-test the newest backup every night at 04:00', '$0 schedule add --cron "0 4 * * *" --task verify-restore --source main'],
      ['Prune daily, never catching up', '$0 schedule add --cron @daily --task prune --source main --catch-up none --name main-prune'],
    ],
  });

  cron = Option.String('--cron', { required: true, description: 'When: a cron expression or @daily-style macro' });
  task = Option.String('--task', 'backup', { validator: t.isEnum(scheduleTasks), description: 'backup (default), verify, verify-restore or prune' });
  source = Option.String('--source', { required: true, description: 'A source from the config' });
  type = Option.String('--type', { validator: t.isEnum(backupKinds), description: 'Backup kind: full, incremental or differential (default: the source\'s policy, else full)' });
  name = Option.String('--name', { description: 'Schedule name (default: SOURCE-TASK)' });
  timezone = Option.String('--timezone', { description: 'IANA time zone of the cron times (default: local)' });
  catchUp = Option.String('--catch-up', { validator: t.isEnum(catchUpPolicies), description: 'Missed runs: once (default), all or none' });

  protected async run(services: CliServices): Promise<number> {
    const { schedule, warnings } = await services.manageSchedules.add({
      name: this.name,
      cron: this.cron,
      task: this.task as ScheduleTask,
      source: this.source,
      kind: this.type as BackupKind | undefined,
      timezone: this.timezone,
      catchUp: this.catchUp as CatchUpPolicy | undefined,
    });
    for (const w of warnings) this.context.stderr.write(`warning: ${w}\n`);
    this.print(`Schedule "${schedule.name}" added: ${describeSchedule(schedule)}; next run ${when(schedule.nextRun)}.`, {
      ok: true,
      schedule: viewJson(schedule),
      warnings,
    });
    return this.ok();
  }
}
