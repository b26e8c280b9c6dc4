import type { WrappedKey } from '../../domain/manifest.js';

export type { WrappedKey };

/**
 * A key-encryption key: a passphrase, a key file, or an age recipient/identity. Wrapping may be
 * possible without unwrapping (an age recipient holds only the public key).
 */
export interface KeyEncryptionKey {
  /** Stable, non-secret id recorded in manifests and the repository marker. */
  readonly keyId: string;
  readonly scheme: WrappedKey['scheme'];
  readonly canWrap: boolean;
  readonly canUnwrap: boolean;
  wrap(dataKey: Buffer): Promise<WrappedKey>;
  /** Rejects with E_KEY when this key does not open `wrapped`. */
  unwrap(wrapped: WrappedKey, backupId: string): Promise<Buffer>;
  /** A value stored in the repository marker that lets a later run check it has the right key. */
  checkValue(): Promise<string | undefined>;
  /** True when `check` (from the marker) was made by this key. */
  matchesCheck(check: string | undefined): Promise<boolean>;
}
