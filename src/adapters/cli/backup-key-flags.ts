import { Option } from 'clipanion';
import type { KeyEncryptionKey } from '../../application/ports/key-encryption-key.js';
import type { ManifestTrust } from '../../application/services/manifest-auth.js';
import type { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';
import { keyFlagGiven, keysFrom, trustFrom } from './keys.js';

// A TypeScript mixin's base must be constructible from `...args: any[]`.
type CommandClass = abstract new (...args: any[]) => BaseCommand;

/** What withBackupKeyFlags adds to a command, as its type (the flags themselves are read only here). */
export interface BackupKeyReader {
  /** The keys given (flags, else the config) and what the backup must prove; `recipient` only for restore's hint. */
  backupKeys(services: CliServices, sourceEncrypted: boolean, recipient?: string): Promise<{ keys: KeyEncryptionKey[]; trust: ManifestTrust }>;
}

/**
 * The flags of a command that reads a backup (`verify`, `restore`): the keys that decrypt it and
 * what it must prove (a signature, encryption, a MAC), declared once on top of `Base`.
 */
export function withBackupKeyFlags<T extends CommandClass>(Base: T): T & (abstract new (...args: any[]) => BackupKeyReader) {
  abstract class BackupKeyFlags extends Base implements BackupKeyReader {
    passphraseEnv = Option.String('--passphrase-env', { description: 'Passphrase of an encrypted backup, from this environment variable' });
    keyFile = Option.String('--key-file', { description: 'Key file of an encrypted backup' });
    identity = Option.String('--identity', { description: 'age identity file (AGE-SECRET-KEY-1…) of an encrypted backup' });
    verifyKey = Option.String('--verify-key', { description: 'Require a valid signature by this Ed25519 public key (`key generate --signing` wrote it as .pub)' });
    requireSigned = Option.Boolean('--require-signed', false, { description: 'Refuse a backup that is not signed (with --verify-key or signing.verify-key)' });
    allowUnencrypted = Option.Boolean('--allow-unencrypted', false, {
      description: 'DANGEROUS: accept a plaintext backup from an encrypted repository or where a key was given (a migration only)',
    });
    allowUnauthenticated = Option.Boolean('--allow-unauthenticated', false, {
      description: 'Accept an encrypted backup written before manifests carried a MAC (edits to it cannot be detected)',
    });

    async backupKeys(
      services: CliServices,
      sourceEncrypted: boolean,
      recipient?: string,
    ): Promise<{ keys: KeyEncryptionKey[]; trust: ManifestTrust }> {
      const keyFlags = { passphraseEnv: this.passphraseEnv, keyFile: this.keyFile, identity: this.identity, recipient };
      const keys = await keysFrom(services, keyFlags, this.context.env);
      const trust = trustFrom(
        services,
        {
          verifyKey: this.verifyKey,
          requireSigned: this.requireSigned,
          allowUnencrypted: this.allowUnencrypted,
          allowUnauthenticated: this.allowUnauthenticated,
          keyGiven: keyFlagGiven(keyFlags),
          sourceEncrypted,
        },
        this.context.stderr,
      );
      return { keys, trust };
    }
  }
  return BackupKeyFlags;
}
