import { Readable } from 'node:stream';
import type { PartSource } from '../../../application/ports/parts.js';
import { LOG_SEGMENT_PART, readLogSegment } from '../../../domain/log-segment.js';
import type { PartEntry } from '../../../domain/manifest.js';
import { headerLine } from './postgres-change-log.js';

/**
 * A log segment (what `replicate` ships, postgres-continuous.ts) read as a change-log part: its
 * commits' payloads are whole transactions' change-log lines, so the header line followed by them
 * is a part the apply path (postgres-change-apply.ts) reads as any incremental's, validating every
 * line and stopping at the last commit at or before `--at`. Other backups pass through unchanged.
 */
export function segmentAsChangeLog(parts: PartSource): PartSource {
  if (!parts.manifest.parts.some((p) => p.name.startsWith(LOG_SEGMENT_PART))) return parts;
  return {
    manifest: parts.manifest,
    ...(parts.checked ? { checked: parts.checked } : {}),
    async open(part: PartEntry): Promise<Readable> {
      const body = await parts.open(part);
      if (!part.name.startsWith(LOG_SEGMENT_PART)) return body;
      const what = `${part.name} of segment ${parts.manifest.id}`;
      return Readable.from(
        (async function* () {
          yield Buffer.from(headerLine());
          for await (const commit of readLogSegment(body, what)) yield commit.payload;
        })(),
      );
    },
  };
}
