import type { KeyEncryptionKey } from '../../application/ports/key-encryption-key.js';
import type { ManifestSigner } from '../../application/ports/manifest-signer.js';
import type { ManifestTrust } from '../../application/services/manifest-auth.js';
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

/** The manifest signing key: `--sign-key FILE`, else the config's `signing.key`. */
export function signerFrom(services: Pick<CliServices, 'settings' | 'keys'>, flag: string | undefined): ManifestSigner | undefined {
  const path = flag ?? services.settings.signing().key;
  return path ? services.keys.signingKey(path) : undefined;
}

export interface TrustFlags {
  verifyKey?: string;
  requireSigned?: boolean;
  allowUnencrypted?: boolean;
  allowUnauthenticated?: boolean;
}

/**
 * What verify/restore demand of a backup. A key given on the command line (or a config source with
 * `encrypt: true`) means an encrypted backup is expected; a verify key (`--verify-key` or
 * `signing.verify-key`) means a signed one. The two `--allow-*` escapes are printed loudly.
 */
export function trustFrom(
  services: Pick<CliServices, 'settings' | 'keys'>,
  flags: TrustFlags & { keyGiven: boolean; sourceEncrypted: boolean },
  stderr: NodeJS.WritableStream,
): ManifestTrust {
  const cfg = services.settings.signing();
  const verifyPath = flags.verifyKey ?? cfg['verify-key'];
  if ((flags.requireSigned || cfg.require) && !verifyPath) {
    throw new DbBackupError('E_USAGE', 'Signed backups are required, but no key checks them: give --verify-key FILE (or signing.verify-key in the config).');
  }
  if (flags.allowUnencrypted) {
    stderr.write('WARNING: --allow-unencrypted: a plaintext backup is accepted where an encrypted one is expected; nothing proves who wrote it.\n');
  }
  if (flags.allowUnauthenticated) {
    stderr.write('WARNING: --allow-unauthenticated: encrypted backups without a MAC (written by dbbackup before 2) are accepted; edits to them cannot be detected.\n');
  }
  return {
    expectEncrypted: flags.keyGiven || flags.sourceEncrypted,
    verifier: verifyPath ? services.keys.verifyKey(verifyPath) : undefined,
    allowUnencrypted: flags.allowUnencrypted,
    allowUnauthenticated: flags.allowUnauthenticated,
  };
}

/** True when a key was named on the command line (not only in the config). */
export function keyFlagGiven(flags: KeyFlags): boolean {
  return flags.passphraseEnv !== undefined || flags.keyFile !== undefined || flags.recipient !== undefined || flags.identity !== undefined;
}
