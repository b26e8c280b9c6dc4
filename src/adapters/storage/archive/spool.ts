import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Writes a stream of unknown length to a temp file so its size is known (tar headers need it),
 * then hands back a reader and a cleanup. Memory stays constant; disk holds one part.
 */
export async function spool(body: Readable, signal?: AbortSignal): Promise<{ size: number; open(): Readable; dispose(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'dbbackup-spool-'));
  const file = join(dir, 'part');
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    await pipeline(body, createWriteStream(file, { mode: 0o600, highWaterMark: 1 << 20 }), signal ? { signal } : {});
    const { size } = await stat(file);
    return { size, open: () => createReadStream(file, { highWaterMark: 1 << 20 }), dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
