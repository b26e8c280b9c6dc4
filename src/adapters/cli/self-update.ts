import { Command, Option } from 'clipanion';
import { DbBackupError } from '../../domain/errors.js';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';

export class SelfUpdateCommand extends BaseCommand {
  static override paths = [['self-update']];
  static override usage = Command.Usage({
    description: 'Update dbbackup to the newest release (npm install or single executable)',
    details: `
      An npm install asks the registry for the newest version, checks the tarball against the
      registry's sha512 integrity and installs it into the same prefix. The single executable fetches
      manifest.json from the update URL, checks its Ed25519 signature against the key built into it,
      downloads the new file, checks its size and sha256, and renames it over itself; the old file stays
      beside it as <file>.previous for --rollback. Refuses a downgrade unless --allow-downgrade, and any
      change while a scheduled job is running.
    `,
    examples: [
      ['Is there a newer version?', '$0 self-update --check'],
      ['Update', '$0 self-update'],
      ['Go back to the version the last update replaced', '$0 self-update --rollback'],
    ],
  });

  check = Option.Boolean('--check', false, { description: 'Only say whether a newer version exists (exit 0 either way)' });
  rollback = Option.Boolean('--rollback', false, { description: 'Put back the version the last update replaced' });
  allowDowngrade = Option.Boolean('--allow-downgrade', false, { description: 'Install the offered version even when it is older' });
  updateUrl = Option.String('--update-url', { description: 'The single executable\'s update URL (default: $DBBACKUP_UPDATE_URL)' });
  registry = Option.String('--registry', { description: 'The npm registry (default: $npm_config_registry or registry.npmjs.org)' });

  protected async run(services: CliServices): Promise<number> {
    if (this.check && this.rollback) throw new DbBackupError('E_USAGE', '--check and --rollback cannot be used together.');
    const useCase = await services.selfUpdate({ updateUrl: this.updateUrl, registry: this.registry });
    const r = await useCase.execute({ check: this.check || this.dryRun, rollback: this.rollback, allowDowngrade: this.allowDowngrade }, this.context.signal);
    let text: string;
    if (r.action === 'rolled-back') text = `Rolled back from ${r.current} to ${r.restored}.`;
    else {
      const changes = r.changes.length ? `\nchanges:\n${r.changes.map((c) => `  ${c}`).join('\n')}` : '';
      text = {
        'up-to-date': `dbbackup ${r.current} is up to date (${r.channel}: ${r.latest}).`,
        available: `dbbackup ${r.latest} is available (running ${r.current}); run \`dbbackup self-update\` to install it.${changes}`,
        updated: `Updated dbbackup ${r.current} → ${r.latest}.${changes}`,
        downgraded: `Downgraded dbbackup ${r.current} → ${r.latest}.`,
      }[r.action];
    }
    this.print(text, { ok: true, ...r });
    return this.ok();
  }
}
