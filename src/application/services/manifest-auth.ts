import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { DbBackupError } from '../../domain/errors.js';
import { type Manifest, parseManifest } from '../../domain/manifest.js';
import {
  AUTHENTICATED_FORMAT_VERSION,
  MANIFEST_MAC_INFO,
  type ManifestAuth,
  authOf,
  manifestAuthBytes,
} from '../../domain/manifest-auth.js';
import { manifestKey } from '../../domain/repository-layout.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { Logger } from '../ports/logger.js';
import type { ManifestSigner, ManifestVerifier } from '../ports/manifest-signer.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import { openBackupKey } from './backup-encryption.js';
import { readMarker, writeJson } from './backup-repository.js';
import type { PartEncryption } from '../pipeline/part-encryption.js';

/** What a verify or restore demands of a manifest before it trusts a byte of it. */
export interface ManifestTrust {
  /**
   * The caller expects an encrypted backup (a key was given on the command line, or the config
   * source says `encrypt: true`): a plaintext one is refused. An encrypted repository implies it.
   */
  expectEncrypted?: boolean;
  /** Every backup must carry a valid signature by this key (`--verify-key`, `--require-signed`). */
  verifier?: ManifestVerifier;
  /** Accept a plaintext backup where an encrypted one is expected (a migration; warned about). */
  allowUnencrypted?: boolean;
  /** Accept an encrypted backup written before manifests were authenticated (format 1, no MAC). */
  allowUnauthenticated?: boolean;
}

/** What a new manifest is sealed with: the backup's data key (encrypted backups) and/or a signing key. */
export interface ManifestSealing {
  dataKey?: Buffer;
  signer?: ManifestSigner;
}

function macKey(dataKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), MANIFEST_MAC_INFO, 32));
}

function mac(dataKey: Buffer, bytes: Buffer): string {
  return createHmac('sha256', macKey(dataKey)).update(bytes).digest('hex');
}

function macMatches(dataKey: Buffer, bytes: Buffer, value: string): boolean {
  const want = Buffer.from(mac(dataKey, bytes), 'hex');
  const got = Buffer.from(value, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * The manifest as it will be written, with its `auth`: computed over the manifest as a reader will
 * parse it (defaults filled), so what is authenticated is exactly what restore acts on.
 */
export function sealManifest(manifest: Manifest, sealing: ManifestSealing): Manifest {
  const { auth: _old, ...rest } = manifest;
  const unsealed = { ...rest, formatVersion: Math.max(manifest.formatVersion, AUTHENTICATED_FORMAT_VERSION) };
  const bytes = manifestAuthBytes(parseManifest(JSON.parse(JSON.stringify(unsealed)), `manifest of ${manifest.id}`));
  const auth: ManifestAuth = {};
  if (manifest.encryption) {
    if (!sealing.dataKey) throw new DbBackupError('E_INTERNAL', `No data key to authenticate the manifest of encrypted backup ${manifest.id}.`);
    auth.mac = { alg: 'hmac-sha256', key: 'data-key', value: mac(sealing.dataKey, bytes) };
  }
  if (sealing.signer) auth.signature = { alg: 'ed25519', keyId: sealing.signer.keyId, value: sealing.signer.sign(bytes) };
  return Object.keys(auth).length ? { ...unsealed, auth } : unsealed;
}

/** Seals and writes a manifest (the last write of a backup: its presence makes the backup exist). */
export async function writeSealedManifest(store: BlobStore, manifest: Manifest, sealing: ManifestSealing): Promise<Manifest> {
  const sealed = sealManifest(manifest, sealing);
  await writeJson(store, manifestKey(sealed.source, sealed.id), sealed);
  return sealed;
}

function authFailure(manifest: Manifest, why: string): DbBackupError {
  return new DbBackupError(
    'E_MANIFEST_AUTH',
    `Backup ${manifest.source}/${manifest.id} fails authentication: ${why}. It was changed, or put there, by someone ` +
      'without the key; nothing was restored. Do not use it, and check who can write to this storage.',
    { details: { backupId: manifest.id, source: manifest.source } },
  );
}

function checkSignature(manifest: Manifest, auth: ManifestAuth, bytes: Buffer, verifier: ManifestVerifier): void {
  const sig = auth.signature;
  if (!sig) throw authFailure(manifest, `it is not signed, and a signature by ${verifier.keyId} is required`);
  if (sig.keyId !== verifier.keyId) throw authFailure(manifest, `it is signed by ${sig.keyId}, not by the verify key ${verifier.keyId}`);
  if (!verifier.verify(bytes, sig.value)) throw authFailure(manifest, `its signature by ${sig.keyId} does not match its contents`);
}

/**
 * The one gate every verify and restore passes before it reads a part: checks the signature when
 * one is required, opens the data key of an encrypted backup and checks the manifest's MAC with
 * it, and refuses a plaintext backup where an encrypted one is expected (the caller says so, or
 * the repository is encrypted). Returns the data key, undefined for a plaintext backup.
 * Throws E_MANIFEST_AUTH (exit 4) naming the backup, or E_KEY when no key given opens it.
 */
export async function authenticateBackup(
  store: BlobStore,
  manifest: Manifest,
  keys: readonly KeyEncryptionKey[],
  cipher: StreamCipher | undefined,
  trust: ManifestTrust = {},
  logger?: Logger,
): Promise<PartEncryption | undefined> {
  // Serialised only when a signature or MAC is checked (a 10,000-object manifest takes ~0.1 s).
  let bytes: Buffer | undefined;
  const authBytes = () => (bytes ??= manifestAuthBytes(manifest));
  const auth = authOf(manifest) ?? {};
  if (trust.verifier) checkSignature(manifest, auth, authBytes(), trust.verifier);
  if (manifest.encryption) {
    if (!cipher) throw new DbBackupError('E_UNSUPPORTED', `Backup ${manifest.id} is encrypted, and this build has no cipher to read it.`);
    const encryption = (await openBackupKey(manifest, keys, cipher))!;
    if (auth.mac) {
      if (!macMatches(encryption.key, authBytes(), auth.mac.value)) throw authFailure(manifest, 'its manifest does not match its MAC (edited metadata, parts, hashes or links)');
    } else if (!trust.allowUnauthenticated) {
      throw authFailure(
        manifest,
        manifest.formatVersion >= AUTHENTICATED_FORMAT_VERSION
          ? 'it is encrypted but its manifest carries no MAC'
          : 'it was written before dbbackup authenticated manifests (format 1), so edits to it cannot be detected; ' +
              'if you trust this storage, read it with --allow-unauthenticated (and `key rewrap` adds a MAC)',
      );
    } else {
      logger?.warn('this encrypted backup predates authenticated manifests: edits to it cannot be detected', { backupId: manifest.id });
    }
    if (manifest.encryption.wrapped.scheme === 'age-x25519' && !trust.verifier) {
      logger?.warn(
        'this backup is encrypted to a public age recipient, so anyone who knows it could have written a whole backup like it; ' +
          'sign backups (backup --sign-key) and check with --verify-key to prove where it came from',
        { backupId: manifest.id },
      );
    }
    return encryption;
  }
  const marker = await readMarker(store);
  const repoEncrypted = (marker?.encryption?.keys.length ?? 0) > 0;
  if (repoEncrypted || trust.expectEncrypted) {
    const why = repoEncrypted ? `${store.location} is an encrypted repository` : 'an encrypted backup was expected (a key was given)';
    if (!trust.allowUnencrypted) {
      throw authFailure(
        manifest,
        `it is not encrypted, but ${why} (stripped encryption or an injected backup; ` +
          'a plaintext backup written on purpose with --allow-unencrypted is read with --allow-unencrypted)',
      );
    }
    logger?.warn(`reading a plaintext backup although ${why} (--allow-unencrypted): nothing proves who wrote it`, { backupId: manifest.id });
  }
  return undefined;
}

/**
 * For `key rewrap`: checks the manifest's MAC with its data key (a manifest from before MACs is
 * accepted: rewrap is how such backups get one), then seals it again with the same data key.
 */
export function resealWithDataKey(manifest: Manifest, dataKey: Buffer, rewritten: Manifest, logger?: Logger): Manifest {
  const auth = authOf(manifest) ?? {};
  if (auth.mac) {
    if (!macMatches(dataKey, manifestAuthBytes(manifest), auth.mac.value)) throw authFailure(manifest, 'its manifest does not match its MAC');
  } else if (manifest.formatVersion >= AUTHENTICATED_FORMAT_VERSION) {
    throw authFailure(manifest, 'it is encrypted but its manifest carries no MAC');
  } else {
    logger?.warn('adding a MAC to a backup written before manifests were authenticated', { backupId: manifest.id });
  }
  if (auth.signature) {
    logger?.warn('the signature of this backup covers its old wrapped key and is dropped; restores with --verify-key will refuse it', {
      backupId: manifest.id,
    });
  }
  const { auth: _a, ...rest } = rewritten;
  return sealManifest(rest, { dataKey });
}
