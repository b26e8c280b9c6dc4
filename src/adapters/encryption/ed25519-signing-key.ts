import { type KeyObject, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ManifestSigner, ManifestVerifier } from '../../application/ports/manifest-signer.js';
import { DbBackupError } from '../../domain/errors.js';
import { assertOwnerOnly } from '../../infrastructure/files.js';

/** `ed25519-` and the first 16 hex digits of the sha256 of the raw 32-byte public key. */
function keyIdOf(publicKey: KeyObject): string {
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return `ed25519-${createHash('sha256').update(raw).digest('hex').slice(0, 16)}`;
}

function readKeyText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new DbBackupError('E_KEY', `Cannot read the ${what} ${path}: ${(err as Error).message}.`);
  }
}

/** A private Ed25519 key in a PEM file only its owner can read (`dbbackup key generate --signing`). */
export class Ed25519SigningKey implements ManifestSigner {
  readonly keyId: string;
  private readonly key: KeyObject;

  constructor(path: string) {
    try {
      assertOwnerOnly(path, 'The signing key', 'E_KEY');
    } catch (err) {
      if (err instanceof DbBackupError) throw err;
      throw new DbBackupError('E_KEY', `Cannot read the signing key ${path}: ${(err as Error).message}.`);
    }
    const text = readKeyText(path, 'signing key');
    try {
      this.key = createPrivateKey(text);
    } catch {
      throw new DbBackupError('E_KEY', `${path} is not a private key (expected the PEM file \`dbbackup key generate --signing\` wrote).`);
    }
    if (this.key.asymmetricKeyType !== 'ed25519') throw new DbBackupError('E_KEY', `${path} is not an Ed25519 key.`);
    this.keyId = keyIdOf(createPublicKey(this.key));
  }

  sign(bytes: Buffer): string {
    return sign(null, bytes, this.key).toString('base64');
  }
}

/** An Ed25519 public key in a PEM file (the `.pub` beside the signing key); a private key file works too. */
export class Ed25519VerifyKey implements ManifestVerifier {
  readonly keyId: string;
  private readonly key: KeyObject;

  constructor(path: string) {
    const text = readKeyText(path, 'verify key');
    try {
      this.key = createPublicKey(text);
    } catch {
      throw new DbBackupError('E_KEY', `${path} is not a public key (expected the .pub file \`dbbackup key generate --signing\` wrote).`);
    }
    if (this.key.asymmetricKeyType !== 'ed25519') throw new DbBackupError('E_KEY', `${path} is not an Ed25519 key.`);
    this.keyId = keyIdOf(this.key);
  }

  verify(bytes: Buffer, signature: string): boolean {
    try {
      return verify(null, bytes, this.key, Buffer.from(signature, 'base64'));
    } catch {
      return false;
    }
  }
}

/** A new key pair as PEM text: the private half (PKCS#8) and the public half (SPKI), and its id. */
export function generateSigningKeyPair(): { privatePem: string; publicPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}
