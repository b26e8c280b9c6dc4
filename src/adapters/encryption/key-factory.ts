import { readFileSync } from 'node:fs';
import type { KeyEncryptionKey } from '../../application/ports/key-encryption-key.js';
import { DbBackupError } from '../../domain/errors.js';
import type { ManifestSigner, ManifestVerifier } from '../../application/ports/manifest-signer.js';
import { Ed25519SigningKey, Ed25519VerifyKey, generateSigningKeyPair } from './ed25519-signing-key.js';
import { AgeKey, KeyFileKey, PassphraseKey } from './key-encryption-keys.js';

/** Builds key-encryption keys from what a user gives on the command line or in the config. */
export class KeyFactory {
  passphrase(passphrase: string, keyId?: string): KeyEncryptionKey {
    return new PassphraseKey(passphrase, keyId);
  }

  keyFile(path: string): KeyEncryptionKey {
    return new KeyFileKey(path);
  }

  /** An `age1…` recipient, or a file holding one. */
  async recipient(value: string): Promise<KeyEncryptionKey> {
    const text = value.startsWith('age1') ? value : readText(value, 'recipient file').trim().split('\n').find((l) => l.startsWith('age1')) ?? '';
    return AgeKey.fromRecipient(text);
  }

  /** A file holding an `AGE-SECRET-KEY-1…` identity. */
  async identity(path: string): Promise<KeyEncryptionKey> {
    return AgeKey.fromIdentity(readText(path, 'identity file'));
  }

  generateAge(): Promise<{ identity: string; recipient: string }> {
    return AgeKey.generate();
  }

  /** A private Ed25519 key file (0600) that signs manifests. */
  signingKey(path: string): ManifestSigner {
    return new Ed25519SigningKey(path);
  }

  /** An Ed25519 public key file that checks manifest signatures. */
  verifyKey(path: string): ManifestVerifier {
    return new Ed25519VerifyKey(path);
  }

  generateSigning(): { privatePem: string; publicPem: string; keyId: string } {
    return generateSigningKeyPair();
  }
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new DbBackupError('E_KEY', `Cannot read the ${what} ${path}: ${(err as Error).message}.`);
  }
}
