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

      With \`--deep\`, it then restores the backup into a scratch database (a temp file for SQLite;
      for a server engine a new database on the server \`--scratch URL\` names), reads every table
      back and checks its row count and the hash of its contents against what the backup recorded
      while dumping (PostgreSQL, MySQL and MongoDB backups record both; SQLite backups and backups
      made before this check record counts only), and drops the scratch. A MongoDB or MySQL backup
      must hold one database. A table missing, of another
      count or of other contents exits 4 (E_DIFFERENT) naming it.
    `,
    examples: [
      ['Verify the newest backup in a folder', '$0 verify --from ./backups latest'],
      ['Verify a backup the catalog knows, by id', '$0 verify 20261125T020000Z-full-ab12'],
      ['Verify an archive file', '$0 verify backup.tar.gz'],
      ['Restore into a scratch database and check every table', '$0 verify --from ./backups latest --deep --scratch postgres://verify@db2:5432/postgres'],
    ],
  });

  target = Option.String({ required: false, name: 'ID|FILE' });
  backupOption = Option.String('--backup', { description: 'Backup id or `latest` (same as the positional ID)' });
  from = Option.String('--from', { description: 'Repository folder or URL' });
  file = Option.String('--file', { description: 'A backup archive file' });
  source = Option.String('--source', { description: 'Which source, when the repository holds several' });
  deep = Option.Boolean('--deep', false, { description: 'Also restore into a scratch database and check every table against the backup' });
  scratch = Option.String('--scratch', { description: 'With --deep: the server URL a scratch database is created on (and dropped); SQLite needs none; default: the --source\'s scratch: in the config' });

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
    if (this.scratch && !this.deep) throw new DbBackupError('E_USAGE', '--scratch goes with --deep.');
    // Without --scratch, the configured source's `scratch:` server.
    const scratch = this.scratch ?? configured?.scratch;
    const deep = this.deep
      ? await services.verifyRestore.execute({ repository: result.repository, manifest: result.manifest, scratch: scratch ? { url: scratch } : undefined, keys, trust }, this.context.signal)
      : undefined;
    const restored = deep ? ` Restored into a scratch database (${deep.scratch}, dropped since): ${deep.tables.length} table(s), ${deep.tables.reduce((n, t) => n + (t.rows ?? 0), 0)} rows, ${deep.tables.filter((t) => t.expectedHash || t.expectedPagesHash).length} of them with contents hashed, as the backup recorded.` : '';
    this.print(`Backup ${result.manifest.id} is intact: ${parts} parts (${formatBytes(size)}) in ${bytes} backup(s) verified.${restored}`, {
      ok: true,
      backup: result.manifest.id,
      repository: result.repository,
      chain: result.chain,
      checks: result.checks,
      ...(deep ? { deep } : {}),
    });
    return this.ok();
  }
}
