import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCHIVE_METADATA_LIMIT, TarGzArchiveReader } from '../../../src/adapters/storage/archive/tar-gz-archive.js';
import { ZIP_DIRECTORY_LIMIT, ZipArchiveReader } from '../../../src/adapters/storage/archive/zip-archive.js';
import { tarGzOfZeros } from '../../helpers/bombs.js';

const MiB = 1 << 20;
const peakRss = () => process.resourceUsage().maxRSS * 1024;

async function list(reader: { list(prefix: string): AsyncIterable<unknown> }): Promise<unknown> {
  try {
    for await (const _ of reader.list('')) void _;
    return undefined;
  } catch (err) {
    return err;
  }
}

describe('archive readers against crafted archives', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbb-archive-bounds-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('.tar.gz: refuses an archive whose small JSON entries pass the metadata limit (64 × 4 MiB of zeros)', async () => {
    const path = join(dir, 'json-bomb.tar.gz');
    await tarGzOfZeros(path, 64, (i) => `src/id/meta-${i}.json`, 4 * MiB);
    const before = process.memoryUsage().rss;
    const err = await list(new TarGzArchiveReader(path));
    expect(err).toMatchObject({ code: 'E_TOO_LARGE', exitCode: 4, message: expect.stringContaining('64 MiB') });
    expect(peakRss() - before).toBeLessThan(ARCHIVE_METADATA_LIMIT + 64 * MiB);
  });

  it('.tar.gz: refuses an archive whose entry names pass the metadata limit (80 names of 1 MiB)', async () => {
    const path = join(dir, 'name-bomb.tar.gz');
    await tarGzOfZeros(path, 80, (i) => `${String(i).padStart(4, '0')}/${'n'.repeat(MiB)}`, 1);
    const err = await list(new TarGzArchiveReader(path));
    expect(err).toMatchObject({ code: 'E_TOO_LARGE', exitCode: 4 });
  });

  it('.tar.gz: still caches a few JSON entries under the limit', async () => {
    const path = join(dir, 'fine.tar.gz');
    await tarGzOfZeros(path, 3, (i) => `src/id/meta-${i}.json`, 1000);
    const reader = new TarGzArchiveReader(path);
    expect(await list(reader)).toBeUndefined();
    expect((await reader.stat('src/id/meta-2.json'))?.size).toBe(1000);
  });

  it('.zip: refuses a central directory over 64 MiB before reading it', async () => {
    const path = join(dir, 'big-directory.zip');
    const cdSize = ZIP_DIRECTORY_LIMIT + 1;
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(1, 8);
    eocd.writeUInt16LE(1, 10);
    eocd.writeUInt32LE(cdSize, 12);
    eocd.writeUInt32LE(0, 16);
    const file = await open(path, 'w');
    await file.truncate(cdSize); // sparse: the directory's bytes are never written
    await file.write(eocd, 0, 22, cdSize);
    await file.close();
    expect(await list(new ZipArchiveReader(path))).toMatchObject({ code: 'E_TOO_LARGE', exitCode: 4 });
  });

  it('.zip: an entry that inflates past the size its directory records fails with E_CHECKSUM', async () => {
    const path = join(dir, 'zip-bomb.zip');
    const name = Buffer.from('src/id/manifest.json');
    const data = deflateRawSync(Buffer.alloc(64 * MiB));
    const declared = 12 * 1024;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(declared, 22);
    local.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(8, 10);
    cd.writeUInt16LE(0x21, 14);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(declared, 24);
    cd.writeUInt16LE(name.length, 28);
    const cdOffset = 30 + name.length + data.length;
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(1, 8);
    eocd.writeUInt16LE(1, 10);
    eocd.writeUInt32LE(46 + name.length, 12);
    eocd.writeUInt32LE(cdOffset, 16);
    await writeFile(path, Buffer.concat([local, name, data, cd, name, eocd]));
    const reader = new ZipArchiveReader(path);
    let bytes = 0;
    let error: unknown;
    try {
      for await (const c of await reader.get('src/id/manifest.json')) bytes += (c as Buffer).length;
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'E_CHECKSUM', message: expect.stringContaining(`more than the ${declared} bytes`) });
    expect(bytes).toBeLessThanOrEqual(declared);
  });
});
