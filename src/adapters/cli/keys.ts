import type { KeyEncryptionKey } from '../../application/ports/key-encryption-key.js';
import { DbBackupError } from '../../domain/errors.js';
import { registerSecret } from '../../infrastructure/redact.js';
import type { CliServices } from './context.js';

export interface KeyFlags {
  passphraseEnv?: string;
  keyFile?: string;
  recipient?: string;
  identity?: string;
}

/**
 * The keys named by flags, else by the config's `encryption:` section. For writing, one key;
 * for reading, every key given (the backup says which it needs).
 */
export async function keysFrom(services: Pick<CliServices, 'settings' | 'keys'>, flags: KeyFlags, env: NodeJS.ProcessEnv): Promise<KeyEncryptionKey[]> {
  const given = flags.passphraseEnv !== undefined || flags.keyFile !== undefined || flags.recipient !== undefined || flags.identity !== undefined;
  const cfg = given ? {} : services.settings.encryption();
  const keys: KeyEncryptionKey[] = [];
  if (flags.passphraseEnv !== undefined) {
    const value = env[flags.passphraseEnv];
    if (!value) throw new DbBackupError('E_USAGE', `--passphrase-env names ${flags.passphraseEnv}, but that environment variable is not set.`);
    registerSecret(value);
    keys.push(services.keys.passphrase(value));
  } else if (cfg.passphrase) {
    registerSecret(cfg.passphrase);
    keys.push(services.keys.passphrase(cfg.passphrase, cfg['key-id']));
  }
  const keyFile = flags.keyFile ?? cfg['key-file'];
  if (keyFile) keys.push(services.keys.keyFile(keyFile));
  const identity = flags.identity ?? cfg.identity;
  if (identity) keys.push(await services.keys.identity(identity));
  const recipient = flags.recipient ?? cfg.recipient;
  if (recipient && !identity) keys.push(await services.keys.recipient(recipient));
  return keys;
}

export async function encryptionKey(services: Pick<CliServices, 'settings' | 'keys'>, flags: KeyFlags, env: NodeJS.ProcessEnv): Promise<KeyEncryptionKey> {
  const keys = await keysFrom(services, flags, env);
  if (keys.length === 0) {
    throw new DbBackupError(
      'E_USAGE',
      '--encrypt needs a key: --passphrase-env VAR, --key-file PATH or --recipient age1… (or an encryption: section in the config).',
    );
  }
  if (keys.length > 1) throw new DbBackupError('E_USAGE', 'Give one encryption key for a backup, not several.');
  return keys[0]!;
}
