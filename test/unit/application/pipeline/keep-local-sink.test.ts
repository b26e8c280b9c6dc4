import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CachedPartSource, keepingLocal } from '../../../../src/application/pipeline/keep-local-sink.js';
import { PartWriter } from '../../../../src/application/pipeline/part-writer.js';
import type { PartSink } from '../../../../src/application/ports/parts.js';
import { FilePartCache } from '../../../../src/adapters/cache/file-part-cache.js';
import { ZstdCodec } from '../../../../src/adapters/compression/zstd-codec.js';
import { LocalBlobStore } from '../../../../src/adapters/storage/local/local-blob-store.js';
import type { Manifest, PartEntry } from '../../../../src/domain/manifest.js';
import { NullProgress } from '../../../../src/infrastructure/progress.js';
import { PatternSource } from '../../../contracts/blob-store-contract.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1 << 20;
const ID = '20261207T020000Z-full-abcd';
const SPEC = { name: 'changes/pages.map', role: 'changes', keepLocal: true } as const;

/** Live Buffer memory (after a GC), so garbage not yet collected does not count. */
function live(): number {
  gc();
  return process.memoryUsage().arrayBuffers;
}

function manifestWith(parts: PartEntry[]): Manifest {
  return {
    formatVersion: 1, id: ID, source: 'app', engine: 'sqlite', serverVersion: '', kind: 'full', parent: null, baseFull: null,
    startedAt: '', finishedAt: '', consistentAt: '', logPosition: null, objects: [], parts, warnings: [], toolVersion: '', engineInfo: {},
  };
}

/** `total` bytes made as they are read, the peak of live Buffer memory sampled every 8 MiB into `peak`. */
function lazyPart(total: number, peak: { bytes: number }): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i * MiB < total; i++) {
        if (i % 8 === 0) peak.bytes = Math.max(peak.bytes, live());
        yield PatternSource.block(i).subarray(0, Math.min(MiB, total - i * MiB));
      }
    })(),
    { objectMode: false },
  );
}

async function hashOf(stream: Readable, peak?: { bytes: number }): Promise<string> {
  const hash = createHash('sha256');
  let n = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    hash.update(c);
    if (peak && n++ % 8 === 0) peak.bytes = Math.max(peak.bytes, live());
  }
  return hash.digest('hex');
}

describe('keepLocal parts stream into and out of the part cache', () => {
  let dir: string;
  let cache: FilePartCache;
  let writer: PartWriter;
  const lost: string[] = [];
  const sink = (inner: PartSink = writer) => keepingLocal(inner, { cache, source: 'app', backupId: ID, onLost: (part) => lost.push(part) });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keep-local-'));
    cache = new FilePartCache(join(dir, 'cache'));
    writer = new PartWriter(new LocalBlobStore(join(dir, 'repo')), 'app', ID, [{ codec: new ZstdCodec(), level: 1 }], new NullProgress(), new AbortController().signal);
    lost.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a 64 MiB part is stored and kept with bounded memory, and reads back equal', async () => {
    const total = 64 * MiB;
    const want = createHash('sha256');
    for (let i = 0; i * MiB < total; i++) want.update(PatternSource.block(i));
    const baseline = live();
    const peak = { bytes: baseline };
    const entry = await sink().write(SPEC, lazyPart(total, peak));
    const writeGrowth = peak.bytes - baseline;
    expect(entry.rawSize).toBe(total);
    expect(lost).toEqual([]);

    const folder = join(dir, 'cache', 'app', ID);
    expect(readdirSync(folder)).toEqual([encodeURIComponent(entry.name)]);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(statSync(join(folder, encodeURIComponent(entry.name))).mode & 0o777).toBe(0o600);
    expect(await cache.has('app', ID)).toBe(true);

    const readBaseline = live();
    const readPeak = { bytes: readBaseline };
    const got = await hashOf(await new CachedPartSource(manifestWith([entry]), cache).open(entry), readPeak);
    const readGrowth = readPeak.bytes - readBaseline;
    console.log(`64 MiB keepLocal part: live Buffer memory grew by ${(writeGrowth / MiB).toFixed(1)} MiB writing, ${(readGrowth / MiB).toFixed(1)} MiB reading`);
    expect(got).toBe(want.digest('hex'));
    // Well under the part's size proves it streamed (the old sink held it twice: 128 MiB).
    expect(writeGrowth).toBeLessThan(32 * MiB);
    expect(readGrowth).toBeLessThan(32 * MiB);
  });

  it('a copy is used only when it matches the manifest and its seal', async () => {
    const body = PatternSource.block(7);
    const entry = await sink().write(SPEC, Readable.from([body.subarray(0, 1000), body.subarray(1000)]));
    const source = new CachedPartSource(manifestWith([entry]), cache);
    expect((await hashOf(await source.open(entry))) === createHash('sha256').update(body).digest('hex')).toBe(true);

    // Another stored part of the same name (another run of the backup, or an edited manifest).
    const other = { ...entry, sha256: 'f'.repeat(64) };
    await expect(new CachedPartSource(manifestWith([other]), cache).open(other)).rejects.toThrow(/E_UNSUPPORTED|not a copy of the part the manifest lists/);
    // A copy damaged on disk: one byte flipped after the header.
    const file = join(dir, 'cache', 'app', ID, encodeURIComponent(entry.name));
    const bytes = readFileSync(file);
    bytes[bytes.length - 10]! ^= 1;
    writeFileSync(file, bytes);
    await expect(source.open(entry)).rejects.toMatchObject({ code: 'E_UNSUPPORTED', message: expect.stringMatching(/is damaged/) });
    // Cut short: the seal no longer fits the file, so no copy is kept.
    writeFileSync(file, bytes.subarray(0, bytes.length - 1));
    await expect(source.open(entry)).rejects.toMatchObject({ code: 'E_UNSUPPORTED', message: expect.stringMatching(/no copy of it is kept/) });
  });

  it('a part that fails to store leaves no copy; a copy that fails leaves the part stored', async () => {
    const failing: PartSink = {
      async write(_spec, body) {
        for await (const _chunk of body) throw new Error('store down');
        throw new Error('store down');
      },
    };
    await expect(sink(failing).write(SPEC, lazyPart(4 * MiB, { bytes: 0 }))).rejects.toThrow('store down');
    expect(readdirSync(join(dir, 'cache', 'app', ID))).toEqual([]);
    expect(await cache.has('app', ID)).toBe(false);

    // The cache folder cannot be made (a file is in the way): the part is stored all the same.
    writeFileSync(join(dir, 'blocked'), 'not a folder');
    cache = new FilePartCache(join(dir, 'blocked'));
    const entry = await sink().write(SPEC, lazyPart(3 * MiB, { bytes: 0 }));
    expect(entry.rawSize).toBe(3 * MiB);
    expect(lost).toEqual([entry.name]);
  });
});
