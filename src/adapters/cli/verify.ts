import { DbBackupError } from '../../domain/errors.js';
import { existsSync } from 'node:fs';
import { Command, Option } from 'clipanion';
import type { CliServices } from './context.js';
import { BaseCommand } from './base-command.js';
import { withBackupKeyFlags } from './backup-key-flags.js';
import { formatBytes } from './render.js';

export class VerifyCommand extends withBackupKeyFlags(BaseCommand) {
  static override paths = [['verify']];
  static override usage = Command.Usage({
    description: 'Check every checksum of a backup',
    details: `
      Reads every part of the backup (and of the backups its chain needs) and checks its size and
      sha256, stored and decoded, after authenticating its manifest (its MAC when encrypted, its
      signature with \`--verify-key\`). Exits 4 on any mismatch, truncation, missing part or failed
      authentication.
    `,
    examples: [
      ['Verify the newest backup in a folder', '$0 verify --from ./backups latest'],
      ['Verify a backup the catalog knows, by id', '$0 verify 20261125T020000Z-full-ab12'],
      ['Verify an archive file', '$0 verify backup.tar.gz'],
    ],
  });

  target = Option.String({ required: false, name: 'ID|FILE' });
  backupOption = Option.String('--backup', { description: 'Backup id or `latest` (same as the positional ID)' });
  from = Option.String('--from', { description: 'Repository folder or URL' });
  file = Option.String('--file', { description: 'A backup archive file' });
  source = Option.String('--source', { description: 'Which source, when the repository holds several' });

  protected async run(services: CliServices): Promise<number> {
    let repository = this.from ?? this.file;
    if (this.backupOption && this.target) throw new DbBackupError('E_USAGE', 'Give the backup either as ID or with --backup, not both.');
    let backup = this.backupOption ?? this.target ?? 'latest';
    if (!this.from && !this.file && this.target && (existsSync(this.target) || /\.(tar\.gz|tgz|zip)$/i.test(this.target))) {
      repository = this.target;
      backup = 'latest';
    }
    const configured = this.source && services.settings.config.section.sources?.[this.source] ? services.settings.source(this.source) : undefined;
    const { keys, trust } = await this.backupKeys(services, configured?.policy.encrypt === true);
    const result = await services.verifyBackup.execute({ repository, backup, source: this.source, keys, trust }, this.context.signal);
    const bytes = result.chain.length;
    const parts = result.checks.length;
    const size = result.manifest.parts.reduce((n, p) => n + p.storedSize, 0);
    this.print(`Backup ${result.manifest.id} is intact: ${parts} parts (${formatBytes(size)}) in ${bytes} backup(s) verified.`, {
      ok: true,
      backup: result.manifest.id,
      repository: result.repository,
      chain: result.chain,
      checks: result.checks,
    });
    return this.ok();
  }
}
