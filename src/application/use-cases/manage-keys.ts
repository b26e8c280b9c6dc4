import { DbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import { manifestKey, REPO_MARKER_KEY, type RepositoryKey } from '../../domain/repository-layout.js';
import type { Clock } from '../ports/clock.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { Logger } from '../ports/logger.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import { readMarker, scanRepository, writeJson } from '../services/backup-repository.js';
import { resealWithDataKey } from '../services/manifest-auth.js';

/**
 * Key rotation for a repository. `rotate` makes a new key the active one (new backups must use
 * it; old backups keep their own key); `rewrap` re-wraps existing backups' data keys under the new
 * key by rewriting only their manifests — no data is read or uploaded again.
 */
export class ManageKeys {
  constructor(private readonly deps: { opener: RepositoryOpener; clock: Clock; logger: Logger }) {}

  async list(repository: string): Promise<{ keys: RepositoryKey[]; backups: { id: string; source: string; keyId: string | null }[] }> {
    const repo = await this.deps.opener.open(repository, 'read');
    try {
      const marker = await readMarker(repo.store);
      const { manifests } = await scanRepository(repo.store);
      return { keys: marker?.encryption?.keys ?? [], backups: manifests.map((m) => ({ id: m.id, source: m.source, keyId: openingKey(m) })) };
    } finally {
      await repo.close();
    }
  }

  async rotate(repository: string, next: KeyEncryptionKey): Promise<RepositoryKey[]> {
    const repo = await this.deps.opener.open(repository, 'write');
    try {
      const marker = await readMarker(repo.store);
      if (!marker) throw new DbBackupError('E_NOT_FOUND', `${repository} is not a dbbackup repository.`);
      const keys = (marker.encryption?.keys ?? []).map((k) => ({ ...k, active: k.id === next.keyId }));
      if (!keys.some((k) => k.id === next.keyId)) {
        keys.push({ id: next.keyId, scheme: next.scheme, check: await next.checkValue(), addedAt: this.deps.clock.now().toISOString(), active: true });
      }
      await writeJson(repo.store, REPO_MARKER_KEY, { ...marker, encryption: { keys } });
      await repo.commit();
      this.deps.logger.info('encryption key rotated', { repository: repo.store.location, activeKey: next.keyId });
      return keys;
    } finally {
      await repo.close();
    }
  }

  async rewrap(repository: string, old: KeyEncryptionKey[], next: KeyEncryptionKey): Promise<{ rewrapped: string[]; skipped: string[] }> {
    const keys = await this.rotate(repository, next);
    const repo = await this.deps.opener.open(repository, 'write');
    try {
      const { manifests } = await scanRepository(repo.store);
      const rewrapped: string[] = [];
      const skipped: string[] = [];
      for (const m of manifests) {
        const enc = m.encryption;
        // Done already (by an earlier run, maybe one killed half-way): its data key opens with `next`.
        if (!enc || enc.wrapped.keyId === next.keyId) {
          skipped.push(m.id);
          continue;
        }
        const kek = old.find((k) => k.keyId === enc.wrapped.keyId) ?? (old.length === 1 ? old[0] : undefined);
        if (!kek) throw new DbBackupError('E_KEY', `Backup ${m.id} opens with key ${enc.wrapped.keyId}; give that key as an old key to rewrap it.`);
        const dataKey = await kek.unwrap(enc.wrapped, m.id);
        const wrapped = await next.wrap(dataKey);
        // The data stays bound to the old key id in its chunk headers; the manifest records both.
        // Its MAC is checked with the data key first: rewrap never blesses an edited manifest.
        const resealed = resealWithDataKey(m, dataKey, { ...m, encryption: { ...enc, wrapped } }, this.deps.logger);
        await writeJson(repo.store, manifestKey(m.source, m.id), resealed);
        rewrapped.push(m.id);
      }
      await repo.commit();
      this.deps.logger.info('data keys rewrapped', { repository: repo.store.location, count: rewrapped.length, keys: keys.length });
      return { rewrapped, skipped };
    } finally {
      await repo.close();
    }
  }
}

/**
 * The key that opens a backup: the one its data key is wrapped under. After a rewrap that is no
 * longer `encryption.keyId` (the key the chunk headers stay bound to).
 */
function openingKey(m: Manifest): string | null {
  return m.encryption?.wrapped.keyId ?? null;
}
