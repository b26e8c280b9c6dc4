import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ChunkReader } from '../../../src/infrastructure/chunk-reader.js';

/** Resolves once the reader has paused `body` (it pauses only once its bound is queued). */
async function pausedBy(body: PassThrough): Promise<void> {
  while (!body.isPaused()) await new Promise((resolve) => setImmediate(resolve));
}

describe('ChunkReader', () => {
  it('lets the stream flow until its bound is queued, then pauses it until the reader takes some; chunks come in order', async () => {
    const body = new PassThrough();
    let pauses = 0;
    body.on('pause', () => pauses++);
    const reader = new ChunkReader(body, 8 * 1024);
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(1024, i));
    // Written all at once: the stream hands them out as fast as it may.
    for (const c of chunks) body.write(c);
    body.end();
    await pausedBy(body);
    // Paused at the bound, not after the first chunk, and not past the bound by more than a chunk.
    expect(reader.buffered).toBeGreaterThanOrEqual(8 * 1024);
    expect(reader.buffered).toBeLessThan(9 * 1024);
    expect(body.isPaused()).toBe(true);
    const got: Buffer[] = [];
    for (let c = await reader.next(); c; c = await reader.next()) got.push(c);
    expect(Buffer.concat(got).equals(Buffer.concat(chunks))).toBe(true);
    // A pause per bound's worth, not one per chunk.
    expect(pauses).toBeLessThanOrEqual(64 / 8 + 1);
    expect(reader.buffered).toBe(0);
  });

  it('hands over a chunk that arrives while the reader waits, and reports the stream\'s error', async () => {
    const body = new PassThrough();
    const reader = new ChunkReader(body);
    const waiting = reader.next();
    body.write(Buffer.from('abc'));
    expect((await waiting)?.toString()).toBe('abc');
    const failing = reader.next();
    body.destroy(new Error('boom'));
    await expect(failing).rejects.toThrow('boom');
  });
});
