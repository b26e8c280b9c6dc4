import type { PartSource } from '../../application/ports/parts.js';
import { DbBackupError } from '../../domain/errors.js';
import type { PartEntry } from '../../domain/manifest.js';

/**
 * The most a restore reads whole into memory from one part: a TOC, a schema script, a collection's
 * metadata. Far above what real databases need, fixed whatever the manifest declares, so that a
 * crafted backup cannot make a restore hold gigabytes.
 */
export const SMALL_PART_LIMIT = 64 << 20;

/**
 * Reads `part` whole into one buffer. Refuses (E_TOO_LARGE, exit 4) a part whose declared raw size
 * is over `limit` before reading a byte; the part reader fails the stream if the bytes run past
 * the declared size.
 */
export async function readSmallPart(parts: PartSource, part: PartEntry, signal?: AbortSignal, limit = SMALL_PART_LIMIT): Promise<Buffer> {
  const what = `${part.name} of backup ${parts.manifest.id}`;
  if (part.rawSize > limit) {
    throw new DbBackupError(
      'E_TOO_LARGE',
      `${what} declares ${part.rawSize} bytes, over the ${limit >> 20} MiB a restore reads into memory; the backup is damaged or not a dbbackup backup.`,
      { details: { part: part.name, bytes: part.rawSize, limit } },
    );
  }
  const out = Buffer.allocUnsafe(part.rawSize);
  let size = 0;
  for await (const chunk of await parts.open(part)) {
    signal?.throwIfAborted();
    const c = chunk as Buffer;
    if (size + c.length > out.length) {
      throw new DbBackupError('E_CHECKSUM', `${what} is longer than the ${part.rawSize} bytes the manifest records; the backup is damaged.`, { details: { part: part.name } });
    }
    size += c.copy(out, size);
  }
  return out.subarray(0, size);
}
