import { Readable } from 'node:stream';
import type { ByteRange } from '../../../application/ports/blob-store.js';

/**
 * Applies `range` to a stream that starts at byte `servedStart` of the object, for servers that
 * ignore a Range header and answer 200 with everything (HTTP allows it), or serve a wider range
 * than asked (s3rver does for `bytes=0-0`).
 */
export function sliceServed(whole: Readable, range: ByteRange, servedStart = 0): Readable {
  const end = range.end === undefined ? Infinity : range.end + 1;
  async function* slice(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    let offset = servedStart;
    for await (const chunk of source) {
      const from = Math.max(0, range.start - offset);
      const to = Math.min(chunk.length, end - offset);
      offset += chunk.length;
      if (to > from) yield chunk.subarray(from, to);
      if (offset >= end) return;
    }
  }
  const out = Readable.from(slice(whole), { objectMode: false });
  out.once('close', () => whole.destroy());
  return out;
}

/** Parses `bytes a-b/total` into its numbers; undefined when absent or malformed. */
export function parseContentRange(header: string | undefined): { start: number; end: number; total?: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), ...(m[3] === '*' ? {} : { total: Number(m[3]) }) };
}

/** True when what the server says it served is exactly the range asked for. */
export function servesExactly(range: ByteRange, served: { start: number; end: number; total?: number } | undefined): boolean {
  if (!served || served.start !== range.start) return false;
  if (range.end === undefined) return served.total === undefined || served.end === served.total - 1;
  return served.end === range.end || (served.total !== undefined && served.end === served.total - 1 && range.end >= served.total - 1);
}
