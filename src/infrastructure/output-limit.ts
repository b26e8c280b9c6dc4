import type { Transform } from 'node:stream';

/** Why a decoder stopped: the part decodes to more bytes than its manifest declares (a decompression bomb or damage). */
export function outputTooLong(maxOutput: number): Error {
  return new Error(`it decodes to more than the ${maxOutput} bytes the manifest records`);
}

/**
 * Makes `decoder` fail with `tooLong` (default outputTooLong) as soon as it pushes more than `maxOutput` bytes in
 * all. For decoders built by node:zlib (whose streams have no output limit of their own); they
 * already stop producing when their reader stops reading, so nothing beyond one chunk is made.
 */
export function limitOutput<T extends Transform>(decoder: T, maxOutput: number | undefined, tooLong: (max: number) => Error = outputTooLong): T {
  if (maxOutput === undefined) return decoder;
  let produced = 0;
  const push = decoder.push.bind(decoder);
  decoder.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (chunk !== null && !decoder.destroyed) {
      produced += (chunk as Buffer).length;
      if (produced > maxOutput) {
        decoder.destroy(tooLong(maxOutput));
        return false;
      }
    }
    return push(chunk, encoding);
  };
  return decoder;
}
