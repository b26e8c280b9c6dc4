import { Command, Option } from 'clipanion';
import { DbBackupError } from '../../../domain/errors.js';
import type { CliServices } from '../context.js';
import { DatabaseCommand } from '../database-command.js';
import { slotSources } from './list.js';

export class SlotDropCommand extends DatabaseCommand {
  static override paths = [['slot', 'drop']];
  static override usage = Command.Usage({
    category: 'Change capture',
    description: "Drop a source's capture slots and publication on its server",
    details: `
      Frees the WAL a source's capture slot keeps (and drops its publication dbbackup_<source>).
      When backups in the source's repositories (its config targets, or --from) continue their
      chain through the slot, the command refuses without --yes: after the drop no incremental can
      follow them, and the next backup of the source must be a full (--type full, or --auto-full).
      A slot a running backup reads from is never dropped. --dry-run shows what would be dropped.
    `,
    examples: [
      ['Drop the slot of a config source', '$0 slot drop main --yes'],
      ['A database given by flags, checking a repository for backups that need it', '$0 slot drop app --db postgres --url postgres://backup@db1/app --from /srv/backups'],
    ],
  });

  name = Option.String({ required: true, name: 'SOURCE' });
  from = Option.Array('--from', { description: 'Repositories to look in for backups whose chain needs the slot (default: the source\'s config targets)' });
  yes = Option.Boolean('--yes', false, { description: 'Drop it even though backups continue their chain through it (the next backup must be a full)' });

  protected async run(services: CliServices): Promise<number> {
    const [source] = await slotSources(services, this.name, { named: this.namesDatabase(), target: () => this.connectionTarget(services), from: this.from });
    if (!source) throw new DbBackupError('E_USAGE', `No source "${this.name}".`);
    if (this.dryRun) {
      const [status] = await services.manageCaptureSlots.status([source]);
      if (status?.problem) throw new DbBackupError(status.problem.code as 'E_INTERNAL', status.problem.message);
      const names = status?.slots.map((s) => s.name) ?? [];
      this.print(names.length ? `Dry run: would drop ${names.join(', ')} and the publication ${status!.captureName} of "${this.name}".` : `Dry run: "${this.name}" has no capture slot on its server.`, {
        ok: true,
        dryRun: true,
        slots: names,
      });
      return this.ok();
    }
    const result = await services.manageCaptureSlots.drop(source, this.yes);
    const what = [...result.slots, ...(result.publication ? [`publication ${result.publication}`] : []), ...(result.ddlCapture ? ['the DDL capture (event trigger dbbackup_ddl, dbbackup.ddl_log)'] : [])];
    const next = result.dependents.length || result.slots.length ? ` The next backup of "${this.name}" must be a full (--type full, or --auto-full), taken with --capture changes to capture again.` : '';
    this.print(what.length ? `Dropped ${what.join(', ')} of "${this.name}".${next}` : `"${this.name}" has no capture slot or publication on its server; nothing to drop.`, { ok: true, ...result });
    return this.ok();
  }
}
