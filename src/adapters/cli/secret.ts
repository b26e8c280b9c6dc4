import { Command, Option } from 'clipanion';
import { DbBackupError } from '../../domain/errors.js';
import { defaultKeyFile, encryptSecret, initKeyFile, requireMasterKey, secretFieldPath } from '../../infrastructure/config/secrets.js';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';
import { readSecretInput } from './prompt.js';

export class SecretInitCommand extends BaseCommand {
  static override paths = [['secret', 'init']];
  static override usage = Command.Usage({
    description: 'Create the master key file that protects enc: secrets in the config',
    details: `
      Writes 32 random bytes (base64) to the key file with mode 0600. The default place is
      $XDG_CONFIG_HOME/dbbackup/master.key; DBBACKUP_MASTER_KEY_FILE or --key-file change it.
      Keep a copy somewhere safe: without it, enc: values cannot be read.
    `,
    examples: [['Create the default key file', '$0 secret init']],
  });

  keyFile = Option.String('--key-file', { description: 'Where to write the key' });

  protected async run(services: CliServices): Promise<number> {
    const file = this.keyFile ?? (services.settings.fileValue('master-key-file') as string | undefined) ?? defaultKeyFile(this.context.env);
    initKeyFile(file);
    this.print(`Created ${file} (mode 0600). Back it up: it is needed to read every enc: value.`, { ok: true, keyFile: file });
    return this.ok();
  }
}

export class SecretEncryptCommand extends BaseCommand {
  static override paths = [['secret', 'encrypt']];
  static override usage = Command.Usage({
    description: 'Turn a secret into an enc: value for the config file',
    details: `
      Reads the secret from standard input (or asks for it on a terminal, without echo) — never from
      the command line, where other users could see it — and prints the encrypted value.

      With --field PATH (the dotted path of the config field it goes in, e.g. sources.main.password,
      targets.s3.secret-access-key, notifications.0.headers.Authorization) the value is bound to that
      field (enc:v2:): it opens only there, so it cannot be moved into a field that is printed or sent
      elsewhere. A \`profiles.NAME.\` prefix is dropped: a profile's field and the shared one are the same.
      Without --field the value is unbound (enc:v1:), opens in any field, and loading it warns.
    `,
    examples: [
      ['Encrypt a password typed at a prompt, for sources.main.password', '$0 secret encrypt --field sources.main.password'],
      ['Encrypt from a pipe', 'printf %s "$PW" | $0 secret encrypt --field sources.main.password'],
    ],
  });

  field = Option.String('--field', { description: 'The config field the value is for (dotted path); binds the value to it' });

  protected async run(services: CliServices): Promise<number> {
    const field = this.field === undefined ? undefined : secretFieldPath(this.field);
    const key = requireMasterKey(this.context.env, services.settings.fileValue('master-key-file') as string | undefined, 'secret encrypt');
    const secret = await readSecretInput(this.context.stdin as NodeJS.ReadStream, this.context.stderr, 'Secret to encrypt: ');
    if (secret === '') throw new DbBackupError('E_USAGE', 'No secret was given on standard input.');
    const value = encryptSecret(secret, key, field);
    if (!field) this.context.stderr.write('note: this value is not bound to a field; pass --field PATH (e.g. sources.main.password) to bind it.\n');
    this.print(value, { ok: true, value, ...(field ? { field } : {}) });
    return this.ok();
  }
}
