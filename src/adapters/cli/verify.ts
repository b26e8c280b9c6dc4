import { DbBackupError } from '../../domain/errors.js';
import { existsSync } from 'node:fs';
import { Command, Option } from 'clipanion';
import type { CliServices } from './context.js';
import { BaseCommand } from './base-command.js';
import { keyFlagGiven, keysFrom, trustFrom } from './keys.js';
import { formatBytes } from './render.js';

export class VerifyCommand extends BaseCommand {
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
  passphraseEnv = Option.String('--passphrase-env', { description: 'Passphrase of an encrypted backup, from this environment variable' });
  keyFile = Option.String('--key-file', { description: 'Key file of an encrypted backup' });
  identity = Option.String('--identity', { description: 'age identity file of an encrypted backup' });
  verifyKey = Option.String('--verify-key', { description: 'Require a valid signature by this Ed25519 public key (`key generate --signing` wrote it as .pub)' });
  requireSigned = Option.Boolean('--require-signed', false, { description: 'Refuse a backup that is not signed (with --verify-key or signing.verify-key)' });
  allowUnencrypted = Option.Boolean('--allow-unencrypted', false, {
    description: 'DANGEROUS: accept a plaintext backup from an encrypted repository or where a key was given (a migration only)',
  });
  allowUnauthenticated = Option.Boolean('--allow-unauthenticated', false, {
    description: 'Accept an encrypted backup written before manifests carried a MAC (edits to it cannot be detected)',
  });

  protected async run(services: CliServices): Promise<number> {
    let repository = this.from ?? this.file;
    if (this.backupOption && this.target) throw new DbBackupError('E_USAGE', 'Give the backup either as ID or with --backup, not both.');
    let backup = this.backupOption ?? this.target ?? 'latest';
    if (!this.from && !this.file && this.target && (existsSync(this.target) || /\.(tar\.gz|tgz|zip)$/i.test(this.target))) {
      repository = this.target;
      backup = 'latest';
    }
    const keyFlags = { passphraseEnv: this.passphraseEnv, keyFile: this.keyFile, identity: this.identity };
    const keys = await keysFrom(services, keyFlags, this.context.env);
    const configured = this.source && services.settings.config.section.sources?.[this.source] ? services.settings.source(this.source) : undefined;
    const trust = trustFrom(
      services,
      {
        verifyKey: this.verifyKey,
        requireSigned: this.requireSigned,
        allowUnencrypted: this.allowUnencrypted,
        allowUnauthenticated: this.allowUnauthenticated,
        keyGiven: keyFlagGiven(keyFlags),
        sourceEncrypted: configured?.policy.encrypt === true,
      },
      this.context.stderr,
    );
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
