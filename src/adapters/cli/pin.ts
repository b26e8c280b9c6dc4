import { Command, Option } from 'clipanion';
import type { PinBackupResult } from '../../application/use-cases/pin-backup.js';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';

abstract class PinStateCommand extends BaseCommand {
  backup = Option.String({ name: 'ID' });
  from = Option.String('--from', { description: 'Repository folder or URL (default: every repository the catalog holds the backup in)' });
  source = Option.String('--source', { description: 'Which source, when the repository holds several' });

  protected abstract readonly pinned: boolean;
  protected note: string | undefined;

  protected async run(services: CliServices): Promise<number> {
    const r = await services.pinBackup.execute(
      { repository: this.from, backup: this.backup, source: this.source, pinned: this.pinned, note: this.note, dryRun: this.dryRun },
      this.context.signal,
    );
    this.print(this.describe(r), { ok: true, dryRun: this.dryRun, ...r });
    return this.ok();
  }

  private describe(r: PinBackupResult): string {
    const verb = this.pinned ? 'pinned' : 'unpinned';
    return r.repositories
      .map((x) => {
        const state = x.changed ? (this.dryRun ? `would be ${verb}` : verb) : `already ${verb}`;
        return `Backup ${r.backup} (source ${r.source}) in ${x.repository}: ${state}.`;
      })
      .join('\n');
  }
}

export class PinCommand extends PinStateCommand {
  static override paths = [['pin']];
  static override usage = Command.Usage({
    description: 'Pin a backup so that prune never deletes it (nor the backups it needs)',
    details: `
      Writes a small pinned.json beside the backup's manifest, in the repository itself: the pin
      survives a lost catalog and works on every kind of target. Without --from, pins the backup in
      every repository the catalog knows it in.
    `,
    examples: [
      ['Pin a backup by id', '$0 pin 20261125T020000Z-full-ab12'],
      ['Pin the newest backup in a folder, with a note', '$0 pin latest --from ./backups --note "before the migration"'],
    ],
  });

  protected readonly pinned = true;
  override note = Option.String('--note', { description: 'Why it is pinned (stored in pinned.json)' });
}

export class UnpinCommand extends PinStateCommand {
  static override paths = [['unpin']];
  static override usage = Command.Usage({
    description: 'Remove the pin of a backup; prune may then delete it by its policy',
    examples: [['Unpin a backup', '$0 unpin 20261125T020000Z-full-ab12 --from ./backups']],
  });

  protected readonly pinned = false;
}
