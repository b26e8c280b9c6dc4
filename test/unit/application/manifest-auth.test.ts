import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { KeyEncryptionKey } from '../../../src/application/ports/key-encryption-key.js';
import { writeJson } from '../../../src/application/services/backup-repository.js';
import { authenticateBackup, sealManifest } from '../../../src/application/services/manifest-auth.js';
import { ChunkedAesGcm } from '../../../src/adapters/encryption/chunked-aead.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { parseManifest } from '../../../src/domain/manifest.js';
import { MemoryBlobStore } from '../../helpers/memory-blob-store.js';

const ID = '20260101T000000Z-full-aaaa';
const dataKey = randomBytes(32);
/** A key-encryption key that hands out `dataKey` (the wrap's own security is the adapters' business). */
const kek: KeyEncryptionKey = {
  keyId: 'k1',
  scheme: 'aes-256-gcm-keyfile',
  canWrap: true,
  canUnwrap: true,
  wrap: async () => ({ keyId: 'k1', scheme: 'aes-256-gcm-keyfile', data: '' }),
  unwrap: async () => dataKey,
  checkValue: async () => undefined,
  matchesCheck: async () => true,
};

function manifest(encrypted: boolean): Manifest {
  return parseManifest(
    {
      formatVersion: 2, id: ID, source: 'app', engine: 'sqlite', kind: 'full', parent: null, baseFull: null,
      startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:00:01Z', consistentAt: '2026-01-01T00:00:00Z',
      objects: [{ name: 'main', type: 'database' }],
      parts: [{ name: 'data/main.0.sqlite', role: 'data', codecs: encrypted ? ['aes-256-gcm'] : [], rawSize: 1, storedSize: 1, sha256: 'a'.repeat(64) }],
      encryption: encrypted ? { cipher: 'aes-256-gcm', keyId: 'k1', wrapped: { keyId: 'k1', scheme: 'aes-256-gcm-keyfile', data: '' } } : null,
    },
    'test',
  );
}

/** What a reader sees after the manifest went through JSON (with key order shuffled). */
const roundTrip = (m: Manifest): Manifest => parseManifest(JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(m).reverse()))), 'test');

describe('authenticateBackup', () => {
  const cipher = new ChunkedAesGcm();

  it('accepts a sealed encrypted manifest and returns its data key', async () => {
    const sealed = roundTrip(sealManifest(manifest(true), { dataKey }));
    const enc = await authenticateBackup(new MemoryBlobStore(), sealed, [kek], cipher);
    expect(enc?.key.equals(dataKey)).toBe(true);
  });

  it('refuses any edit, a missing MAC, and a MAC made with another data key', async () => {
    const sealed = sealManifest(manifest(true), { dataKey });
    const store = new MemoryBlobStore();
    const edits: Manifest[] = [
      { ...sealed, baseFull: '20251231T000000Z-full-zzzz' },
      { ...sealed, generation: 'other' },
      { ...sealed, parts: [{ ...sealed.parts[0]!, sha256: 'b'.repeat(64) }] },
      { ...sealed, auth: undefined },
      sealManifest(manifest(true), { dataKey: randomBytes(32) }),
    ];
    for (const m of edits) await expect(authenticateBackup(store, roundTrip(m), [kek], cipher)).rejects.toMatchObject({ code: 'E_MANIFEST_AUTH' });
  });

  it('refuses a plaintext manifest when encryption is expected or the repository is encrypted', async () => {
    const plain = roundTrip(sealManifest(manifest(false), {}));
    const store = new MemoryBlobStore();
    await expect(authenticateBackup(store, plain, [], cipher)).resolves.toBeUndefined();
    await expect(authenticateBackup(store, plain, [kek], cipher, { expectEncrypted: true })).rejects.toMatchObject({ code: 'E_MANIFEST_AUTH' });
    await expect(authenticateBackup(store, plain, [kek], cipher, { expectEncrypted: true, allowUnencrypted: true })).resolves.toBeUndefined();
    await writeJson(store, 'dbbackup-repo.json', {
      format: 'dbbackup-repository', version: 1, createdAt: '2026-01-01T00:00:00Z',
      encryption: { keys: [{ id: 'k1', scheme: 'aes-256-gcm-keyfile', addedAt: '2026-01-01T00:00:00Z', active: true }] },
    });
    await expect(authenticateBackup(store, plain, [], cipher)).rejects.toMatchObject({ code: 'E_MANIFEST_AUTH' });
  });
});
