import { open, type FileHandle } from 'node:fs/promises';
import { DbBackupError } from '../../../domain/errors.js';
import { MAP_WINDOW, type MapFile } from './sqlite-map-file.js';
import { HASH_BYTES } from './sqlite-page-map.js';

/**
 * A chain restore's owner table in a scratch file: for each page of the result, the index in the
 * chain of the backup holding its final version (0: the full), 2 bytes a page (4 past 65,535
 * links), in the machine's byte order (the file lives only as long as the restore). Built by
 * comparing each link's map file with its predecessor's a window at a time, and read forward a
 * window at a time: memory is a few windows (`window` entries each), whatever the page count.
 */
export class OwnerFile {
  private readonly width: 2 | 4;
  /** Entries in the file: the page count of the last map marked. */
  private count = 0;
  /** The largest number of entries (of a map or of the table) held at once, for tests. */
  largestWindow = 0;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    links: number,
    readonly window: number,
  ) {
    this.width = links <= 0xffff ? 2 : 4;
  }

  static async create(path: string, links: number, window = MAP_WINDOW): Promise<OwnerFile> {
    return new OwnerFile(await open(path, 'w+', 0o600), path, links, window);
  }

  /**
   * Sets the owner of every page where `map` differs from `previous` (or that `previous` lacks) to
   * `link`, and cuts the table to `map`'s page count (entries past it dropped). Called once per
   * link, in chain order; pages no link changed keep owner 0, the full.
   */
  async markChanged(previous: MapFile, map: MapFile, link: number, signal: AbortSignal): Promise<void> {
    const window = this.window;
    const a = alignedBuffer(window * HASH_BYTES);
    const b = alignedBuffer(window * HASH_BYTES);
    const o = alignedBuffer(window * this.width);
    const aw = new Int32Array(a.buffer, a.byteOffset, a.length >> 2);
    const bw = new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
    const owners = this.width === 2 ? new Uint16Array(o.buffer, o.byteOffset, window) : new Uint32Array(o.buffer, o.byteOffset, window);
    this.largestWindow = Math.max(this.largestWindow, window);
    const before = await open(previous.path, 'r');
    const after = await open(map.path, 'r');
    try {
      const common = Math.min(previous.pageCount, map.pageCount);
      for (let first = 1; first <= map.pageCount; first += window) {
        signal.throwIfAborted();
        const n = Math.min(window, map.pageCount - first + 1);
        const shared = Math.max(0, Math.min(n, common - first + 1));
        const known = Math.max(0, Math.min(n, this.count - first + 1));
        await readExact(after, b, n * HASH_BYTES, (first - 1) * HASH_BYTES);
        if (shared) await readExact(before, a, shared * HASH_BYTES, (first - 1) * HASH_BYTES);
        if (known) await readExact(this.handle, o, known * this.width, (first - 1) * this.width);
        if (known < n) owners.fill(0, known, n);
        let dirty = known < n;
        for (let k = 0, w = 0; k < shared; k++, w += 4) {
          if (aw[w] !== bw[w] || aw[w + 1] !== bw[w + 1] || aw[w + 2] !== bw[w + 2] || aw[w + 3] !== bw[w + 3]) {
            owners[k] = link;
            dirty = true;
          }
        }
        owners.fill(link, shared, n);
        if (dirty) await this.handle.write(o, 0, n * this.width, (first - 1) * this.width);
      }
      await this.handle.truncate(map.pageCount * this.width);
      this.count = map.pageCount;
    } finally {
      await before.close();
      await after.close();
    }
  }

  /** How many pages of the result each of `links` backups holds. */
  async owned(links: number): Promise<number[]> {
    const owned = new Array<number>(links).fill(0);
    const reader = this.reader();
    for (let pgno = 1; pgno <= this.count; pgno++) {
      if (!reader.has(pgno)) await reader.load(pgno);
      owned[reader.get(pgno)]!++;
    }
    return owned;
  }

  /** A reader of the table in increasing page order (several may read at once). */
  reader(): OwnerReader {
    this.largestWindow = Math.max(this.largestWindow, this.window);
    return new OwnerReader(this.handle, this.count, this.width, this.window);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Reads an owner table forward through a window: has(p), else load(p), then get(p). */
export class OwnerReader {
  private readonly entries: Uint16Array | Uint32Array;
  private readonly bytes: Buffer;
  private first = 0;
  private count = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly pageCount: number,
    private readonly width: 2 | 4,
    window: number,
  ) {
    this.bytes = alignedBuffer(Math.min(window, Math.max(1, pageCount)) * width);
    const n = this.bytes.length / width;
    this.entries = width === 2 ? new Uint16Array(this.bytes.buffer, 0, n) : new Uint32Array(this.bytes.buffer, 0, n);
  }

  has(pgno: number): boolean {
    return pgno >= this.first && pgno < this.first + this.count;
  }

  /** The window from page `pgno` on (1 ≤ pgno ≤ pageCount). */
  async load(pgno: number): Promise<void> {
    const n = Math.min(this.entries.length, this.pageCount - pgno + 1);
    if (pgno < 1 || n < 1) throw new Error(`page ${pgno} is beyond the owner table's ${this.pageCount}`);
    await readExact(this.handle, this.bytes, n * this.width, (pgno - 1) * this.width);
    this.first = pgno;
    this.count = n;
  }

  /** The owner of page `pgno` (in the window: load it first). */
  get(pgno: number): number {
    return this.entries[pgno - this.first]!;
  }
}

/** A zeroed buffer on its own memory (offset 0: typed-array views of any width fit). */
function alignedBuffer(bytes: number): Buffer {
  return Buffer.from(new ArrayBuffer(bytes));
}

async function readExact(handle: FileHandle, into: Buffer, length: number, position: number): Promise<void> {
  const { bytesRead } = await handle.read(into, 0, length, position);
  if (bytesRead !== length) throw new DbBackupError('E_RESTORE_FAILED', 'A scratch file of the chain restore is shorter than it was written; retry the restore.');
}
