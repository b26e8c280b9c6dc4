import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { KeptPartCopy, PartCache, PartCopySeal, PendingPartCopy } from '../../application/ports/part-cache.js';

/** `dbbpc01\n`, the raw size (u64 BE), the raw sha256, the stored sha256; the raw bytes follow. */
const MAGIC = Buffer.from('dbbpc01\n');
const HEADER_BYTES = MAGIC.length + 8 + 32 + 32;
/** Temporary names start with `#`, which segment() always encodes: no kept part can look like one. */
const TEMP_PREFIX = '#tmp-';

/**
 * PartCache in a folder: `<dir>/<source>/<backup id>/<part name>` (names percent-encoded, so a part
 * name's `/` stays inside one file name), folders 0700, files 0600. A copy streams into a temporary
 * file after room for its header; commit writes the header (the seal), syncs and renames, so a run
 * killed at any point leaves no file that reads as a kept copy. Copies have no size limit: the
 * next incremental cannot be taken without them; one is as large as its part (0.4 % of a SQLite
 * database for a page map), and only the last backup's and its full's are kept (retain).
 */
export class FilePartCache implements PartCache {
  constructor(private readonly dir: string) {}

  async put(source: string, backupId: string, body: Readable, signal?: AbortSignal): Promise<PendingPartCopy> {
    const folder = this.folder(source, backupId);
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const temp = join(folder, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      const out = createWriteStream(temp, { flags: 'w', mode: 0o600, start: HEADER_BYTES, highWaterMark: 1 << 20 });
      await pipeline(body, out, signal ? { signal } : {});
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return {
      commit: async (name, seal) => {
        try {
          await sealFile(temp, seal);
          await rename(temp, join(folder, segment(name)));
        } catch (err) {
          await rm(temp, { force: true });
          throw err;
        }
      },
      discard: () => rm(temp, { force: true }),
    };
  }

  async get(source: string, backupId: string, name: string): Promise<KeptPartCopy | undefined> {
    const fh = await open(join(this.folder(source, backupId), segment(name)), 'r').catch(() => undefined);
    if (!fh) return undefined;
    try {
      const seal = await readSeal(fh);
      if (!seal) {
        await fh.close();
        return undefined;
      }
      return { seal, body: fh.createReadStream({ start: HEADER_BYTES, highWaterMark: 1 << 20 }) };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async has(source: string, backupId: string): Promise<boolean> {
    const names = await readdir(this.folder(source, backupId)).catch(() => []);
    return names.some((n) => !n.startsWith(TEMP_PREFIX));
  }

  async retain(source: string, keep: readonly string[]): Promise<void> {
    const root = join(this.dir, segment(source));
    const kept = new Set(keep.map(segment));
    for (const id of await readdir(root).catch(() => [])) {
      if (!kept.has(id)) await rm(join(root, id), { recursive: true, force: true });
    }
  }

  private folder(source: string, backupId: string): string {
    return join(this.dir, segment(source), segment(backupId));
  }
}

/** Writes `seal` into the header room of `file` (whose bytes must be exactly `seal.rawSize`) and syncs it. */
async function sealFile(file: string, seal: PartCopySeal): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    // Nothing is written before the header room when no byte went by.
    const size = Math.max(0, (await fh.stat()).size - HEADER_BYTES);
    if (size !== seal.rawSize) throw new Error(`the copy holds ${size} bytes, not the ${seal.rawSize} that went by`);
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeBigUInt64BE(BigInt(seal.rawSize), MAGIC.length);
    Buffer.from(seal.rawSha256, 'hex').copy(header, MAGIC.length + 8);
    Buffer.from(seal.storedSha256, 'hex').copy(header, MAGIC.length + 40);
    await fh.write(header, 0, HEADER_BYTES, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The seal in the header of `fh`; undefined when there is none or it does not fit the file's size. */
async function readSeal(fh: FileHandle): Promise<PartCopySeal | undefined> {
  const stat = await fh.stat();
  if (!stat.isFile()) return undefined;
  const header = Buffer.alloc(HEADER_BYTES);
  const { bytesRead } = await fh.read(header, 0, HEADER_BYTES, 0);
  if (bytesRead < HEADER_BYTES || !header.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const rawSize = header.readBigUInt64BE(MAGIC.length);
  if (BigInt(stat.size - HEADER_BYTES) !== rawSize) return undefined;
  return {
    rawSize: Number(rawSize),
    rawSha256: header.toString('hex', MAGIC.length + 8, MAGIC.length + 40),
    storedSha256: header.toString('hex', MAGIC.length + 40, HEADER_BYTES),
  };
}

/** One path segment that cannot climb out of its folder. */
function segment(name: string): string {
  const s = encodeURIComponent(name);
  return s === '.' || s === '..' ? `%2E${s.slice(1)}` : s;
}
