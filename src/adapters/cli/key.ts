import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'clipanion';
import { DbBackupError } from '../../domain/errors.js';
import { writeNewSecretFile } from '../../infrastructure/files.js';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';
import { encryptionKey, keysFrom } from './keys.js';
import { table } from './render.js';

const writeSecretFile = (path: string, text: string) => writeNewSecretFile(path, text, 'it may protect backups.');

export class KeyGenerateCommand extends BaseCommand {
  static override paths = [['key', 'generate']];
  static override usage = Command.Usage({
    description: 'Create a key: an encryption key file, an age identity and its recipient, or a signing key pair',
    details: `
      \`--key-file PATH\` writes 32 random bytes (mode 0600) for \`backup --encrypt --key-file PATH\`.
      \`--age PATH\` writes an age identity (private, for restores) to PATH and prints its recipient
      (public, for \`backup --encrypt --recipient age1…\`): servers that only back up never hold a key that decrypts.
      \`--signing PATH\` writes an Ed25519 private key (mode 0600, for \`backup --sign-key PATH\`) and its
      public key to PATH.pub (for \`restore --verify-key PATH.pub\`).
    `,
    examples: [
      ['A key file', '$0 key generate --key-file /etc/dbbackup/backup.key'],
      ['An age key pair', '$0 key generate --age ~/.config/dbbackup/restore-identity.txt'],
      ['A signing key pair', '$0 key generate --signing /etc/dbbackup/sign.key'],
    ],
  });

  keyFile = Option.String('--key-file', { description: 'Write a key file here' });
  age = Option.String('--age', { description: 'Write an age identity here and print its recipient' });
  signing = Option.String('--signing', { description: 'Write an Ed25519 signing key here and its public key to PATH.pub' });

  protected async run(services: CliServices): Promise<number> {
    if ([this.keyFile, this.age, this.signing].filter((v) => v !== undefined).length !== 1) {
      throw new DbBackupError('E_USAGE', 'Give exactly one of --key-file PATH, --age PATH or --signing PATH.');
    }
    if (this.signing) return this.generateSigning(services, this.signing);
    if (this.keyFile) {
      writeSecretFile(this.keyFile, `${randomBytes(32).toString('base64')}\n`);
      const key = services.keys.keyFile(this.keyFile);
      this.print(`Wrote ${this.keyFile} (mode 0600), key id ${key.keyId}. Keep a copy off this machine.`, { ok: true, keyFile: this.keyFile, keyId: key.keyId });
      return this.ok();
    }
    const pair = await services.keys.generateAge();
    writeSecretFile(this.age!, `# created by dbbackup key generate\n# public key: ${pair.recipient}\n${pair.identity}\n`);
    this.print(`Wrote the identity to ${this.age} (mode 0600). Recipient (public; use with --recipient):\n${pair.recipient}`, {
      ok: true,
      identityFile: this.age,
      recipient: pair.recipient,
    });
    return this.ok();
  }

  private generateSigning(services: CliServices, path: string): number {
    const pub = `${path}.pub`;
    if (existsSync(pub)) throw new DbBackupError('E_TARGET_EXISTS', `${pub} already exists; remove it first if you are sure.`);
    const pair = services.keys.generateSigning();
    writeNewSecretFile(path, pair.privatePem, 'it may sign backups.');
    writeFileSync(pub, pair.publicPem, { mode: 0o644, flag: 'wx' });
    this.print(
      `Wrote the signing key to ${path} (mode 0600; for backup --sign-key) and its public key to ${pub} ` +
        `(for restore/verify --verify-key), key id ${pair.keyId}. Keep the public key where backups are restored, not only beside the backups.`,
      { ok: true, signingKey: path, verifyKey: pub, keyId: pair.keyId },
    );
    return this.ok();
  }
}

export class KeyListCommand extends BaseCommand {
  static override paths = [['key', 'list']];
  static override usage = Command.Usage({
    description: "List a repository's encryption keys (ids only) and which backups use each",
    examples: [['Keys of a repository', '$0 key list --from ./backups']],
  });

  from = Option.String('--from', { required: true, description: 'Repository' });

  protected async run(services: CliServices): Promise<number> {
    const r = await services.manageKeys.list(this.from);
    const rows = r.keys.map((k) => [k.id, k.scheme, k.active ? 'active' : 'retired', k.addedAt, r.backups.filter((b) => b.keyId === k.id).length]);
    this.print(r.keys.length ? table(['key id', 'scheme', 'state', 'added', 'backups'], rows) : 'This repository has no encryption keys.', { ok: true, ...r });
    return this.ok();
  }
}

export class KeyRotateCommand extends BaseCommand {
  static override paths = [['key', 'rotate']];
  static override usage = Command.Usage({
    description: 'Make a new key the active one: new backups use it, old backups stay readable with theirs',
    examples: [['Rotate to a new key file', '$0 key rotate --from ./backups --key-file /etc/dbbackup/2027.key']],
  });

  from = Option.String('--from', { required: true, description: 'Repository' });
  passphraseEnv = Option.String('--passphrase-env', { description: 'New passphrase, from this environment variable' });
  keyFile = Option.String('--key-file', { description: 'New key file' });
  recipient = Option.String('--recipient', { description: 'New age recipient' });

  protected async run(services: CliServices): Promise<number> {
    const next = await encryptionKey(services, { passphraseEnv: this.passphraseEnv, keyFile: this.keyFile, recipient: this.recipient }, this.context.env);
    const keys = await services.manageKeys.rotate(this.from, next);
    this.print(`Key ${next.keyId} is now active for ${this.from}; ${keys.length - 1} older key(s) still open older backups.`, { ok: true, active: next.keyId, keys });
    return this.ok();
  }
}

export class KeyRewrapCommand extends BaseCommand {
  static override paths = [['key', 'rewrap']];
  static override usage = Command.Usage({
    description: "Re-wrap existing backups' data keys under a new key (rewrites manifests only, no data)",
    details: `
      Old keys come from --passphrase-env/--key-file/--identity; the new one from --new-passphrase-env,
      --new-key-file or --new-recipient. The new key becomes the repository's active key.
    `,
    examples: [['From a passphrase to a key file', 'OLD=… $0 key rewrap --from ./backups --passphrase-env OLD --new-key-file /etc/dbbackup/new.key']],
  });

  from = Option.String('--from', { required: true, description: 'Repository' });
  passphraseEnv = Option.String('--passphrase-env', { description: 'Old passphrase, from this environment variable' });
  keyFile = Option.String('--key-file', { description: 'Old key file' });
  identity = Option.String('--identity', { description: 'Old age identity file' });
  newPassphraseEnv = Option.String('--new-passphrase-env', { description: 'New passphrase, from this environment variable' });
  newKeyFile = Option.String('--new-key-file', { description: 'New key file' });
  newRecipient = Option.String('--new-recipient', { description: 'New age recipient' });

  protected async run(services: CliServices): Promise<number> {
    const old = await keysFrom(services, { passphraseEnv: this.passphraseEnv, keyFile: this.keyFile, identity: this.identity }, this.context.env);
    if (old.length === 0) throw new DbBackupError('E_USAGE', 'Give the old key: --passphrase-env, --key-file or --identity.');
    const next = await encryptionKey(
      services,
      { passphraseEnv: this.newPassphraseEnv, keyFile: this.newKeyFile, recipient: this.newRecipient },
      this.context.env,
    );
    const r = await services.manageKeys.rewrap(this.from, old, next);
    this.print(`Re-wrapped ${r.rewrapped.length} backup(s) under ${next.keyId}; ${r.skipped.length} needed nothing.`, { ok: true, ...r, active: next.keyId });
    return this.ok();
  }
}
