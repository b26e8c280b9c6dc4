import { Readable } from 'node:stream';
import type { Manifest, PartEntry } from '../../domain/manifest.js';
import { DbBackupError } from '../../domain/errors.js';
import type { PartCache } from '../ports/part-cache.js';
import type { PartSink, PartSource } from '../ports/parts.js';

/** `inner`, also handing the raw bytes of each `keepLocal` part to `keep` once it is stored. */
export function keepingLocal(inner: PartSink, keep: (entry: PartEntry, bytes: Buffer) => Promise<void>): PartSink {
  return {
    async write(spec, body) {
      if (!spec.keepLocal) return inner.write(spec, body);
      const chunks: Buffer[] = [];
      async function* tee(): AsyncGenerator<Buffer> {
        for await (const c of body) {
          const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
          chunks.push(chunk);
          yield chunk;
        }
      }
      const entry = await inner.write(spec, Readable.from(tee()));
      await keep(entry, Buffer.concat(chunks));
      return entry;
    },
  };
}

/**
 * The parts of `manifest` kept in `cache` (see PartCache), read back as a PartSource; opening a
 * part not kept fails with E_UNSUPPORTED (change capture then reports that no parent is usable).
 */
export class CachedPartSource implements PartSource {
  constructor(
    readonly manifest: Manifest,
    private readonly cache: PartCache,
  ) {}

  async open(part: PartEntry): Promise<Readable> {
    const bytes = await this.cache.get(this.manifest.source, this.manifest.id, part.name);
    if (!bytes || bytes.length !== part.rawSize) {
      throw new DbBackupError(
        'E_UNSUPPORTED',
        `Part ${part.name} of backup ${this.manifest.id} is encrypted to age recipients and no copy of it is kept in the state folder; take a full backup.`,
      );
    }
    return Readable.from([bytes]);
  }
}
