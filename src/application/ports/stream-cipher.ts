import type { Transform } from 'node:stream';

/**
 * Authenticated streaming encryption of one part. `context` (the backup id and part name) is
 * bound into every chunk, so chunks cannot be moved between parts or backups unnoticed.
 */
export interface StreamCipher {
  /** Manifest codec id, e.g. 'aes-256-gcm'. */
  readonly id: string;
  readonly extension: string;
  encryptor(key: Buffer, keyId: string, context: string): Transform;
  /** Emits a chunk's plaintext only after that chunk authenticated; fails with E_DECRYPT otherwise. */
  decryptor(key: Buffer, keyId: string, context: string): Transform;
}
