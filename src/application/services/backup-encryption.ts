import { randomBytes } from 'node:crypto';
import { DbBackupError } from '../../domain/errors.js';
import type { Manifest, ManifestEncryption } from '../../domain/manifest.js';
import { REPO_MARKER_KEY, type RepositoryKey, type RepositoryMarker } from '../../domain/repository-layout.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import { writeJson } from './backup-repository.js';
import type { PartEncryption } from '../pipeline/part-encryption.js';

/**
 * Checks that `kek` is the repository's active key (registering it when the repository has none
 * yet), then wraps the backup's data key (a fresh one unless `dataKey` is given: a multi-target
 * backup shares one, so every target stores the same bytes). Nothing is written for a wrong key.
 */
export async function prepareEncryption(
  store: BlobStore,
  marker: RepositoryMarker,
  markerIsNew: boolean,
  kek: KeyEncryptionKey,
  cipher: StreamCipher,
  now: Date,
  dataKey: Buffer = randomBytes(32),
): Promise<{ part: PartEncryption; manifest: ManifestEncryption }> {
  if (!kek.canWrap) throw new DbBackupError('E_KEY', `Key ${kek.keyId} cannot encrypt.`);
  const keys = marker.encryption?.keys ?? [];
  const active = keys.find((k) => k.active);
  const known = keys.find((k) => k.id === kek.keyId);
  if (active && active.id !== kek.keyId) {
    throw new DbBackupError(
      'E_KEY',
      known
        ? `Key ${kek.keyId} was rotated out of ${store.location}; new backups use key ${active.id}.`
        : `${store.location} encrypts with key ${active.id}, not ${kek.keyId}; give that key, or switch with \`dbbackup key rotate\`.`,
      { details: { activeKey: active.id, givenKey: kek.keyId } },
    );
  }
  if (known && !(await kek.matchesCheck(known.check))) {
    throw new DbBackupError('E_KEY', `The key given for ${kek.keyId} does not match the one ${store.location} was set up with (wrong passphrase?).`);
  }
  if (!known) {
    const entry: RepositoryKey = { id: kek.keyId, scheme: kek.scheme, check: await kek.checkValue(), addedAt: now.toISOString(), active: true };
    await writeJson(store, REPO_MARKER_KEY, { ...marker, encryption: { keys: [...keys, entry] } });
  } else if (markerIsNew) {
    await writeJson(store, REPO_MARKER_KEY, marker);
  }
  const wrapped = await kek.wrap(dataKey);
  return { part: { cipher, key: dataKey, keyId: kek.keyId }, manifest: { cipher: cipher.id, keyId: kek.keyId, wrapped } };
}

/** The data key of an encrypted backup, from whichever given key wrapped it; undefined when not encrypted. */
export async function openBackupKey(manifest: Manifest, keys: readonly KeyEncryptionKey[], cipher: StreamCipher): Promise<PartEncryption | undefined> {
  const enc = manifest.encryption;
  if (!enc) return undefined;
  if (enc.cipher !== cipher.id) {
    throw new DbBackupError('E_UNSUPPORTED', `Backup ${manifest.id} uses cipher ${enc.cipher}, unknown to this dbbackup.`);
  }
  const kek = keys.find((k) => k.keyId === enc.wrapped.keyId) ?? (keys.length === 1 && keys[0]!.scheme === enc.wrapped.scheme ? keys[0] : undefined);
  if (!kek) {
    throw new DbBackupError(
      'E_KEY',
      `Backup ${manifest.id} is encrypted with key ${enc.wrapped.keyId}` +
        (keys.length ? `, and no key given is that one (given: ${keys.map((k) => k.keyId).join(', ')})` : '; give it with --passphrase-env, --key-file or --identity') +
        '.',
      { details: { backupId: manifest.id, keyId: enc.wrapped.keyId } },
    );
  }
  if (!kek.canUnwrap) {
    throw new DbBackupError(
      'E_KEY',
      `Backup ${manifest.id} is encrypted to age recipient ${enc.keyId}; restoring needs the private identity (--identity FILE), not the public recipient.`,
    );
  }
  const key = await kek.unwrap(enc.wrapped, manifest.id);
  return { cipher, key, keyId: enc.keyId };
}

/**
 * A backup without encryption into `marker`'s repository: refused when the repository is
 * encrypted (E_USAGE), unless `allow` (a migration; the caller warns the user loudly).
 */
export function checkPlaintextAllowed(marker: RepositoryMarker | undefined, location: string, allow: boolean, logger?: { warn(msg: string, fields?: Record<string, unknown>): void }): void {
  const keys = marker?.encryption?.keys ?? [];
  if (keys.length === 0) return;
  if (!allow) {
    throw new DbBackupError(
      'E_USAGE',
      `${location} is an encrypted repository (key ${keys.find((k) => k.active)?.id ?? keys[0]!.id}); back up with --encrypt and its key, ` +
        'or give --allow-unencrypted to store a plaintext backup on purpose (restores then need --allow-unencrypted too).',
      { details: { repository: location } },
    );
  }
  logger?.warn('storing a PLAINTEXT backup in an encrypted repository (--allow-unencrypted)', { repository: location });
}
