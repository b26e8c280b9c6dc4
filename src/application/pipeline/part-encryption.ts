// Contract: what encrypts or decrypts the parts of one backup, and the context that binds each
// encrypted chunk to its part and backup (a chunk moved to another part fails to decrypt).
import type { StreamCipher } from '../ports/stream-cipher.js';

/** The data key of an encrypted backup and the cipher that uses it. */
export interface PartEncryption {
  cipher: StreamCipher;
  key: Buffer;
  keyId: string;
}

/** The authenticated context of a part's cipher: binds every chunk to this part of this backup. */
export function partContext(backupId: string, partName: string): string {
  return `Part ${partName} of backup ${backupId}`;
}
