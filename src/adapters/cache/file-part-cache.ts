import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PartCache } from '../../application/ports/part-cache.js';

/**
 * PartCache in a folder: `<dir>/<source>/<backup id>/<part name>` (names percent-encoded, so a part
 * name's `/` stays inside one file name), folders 0700, files 0600, each written to a temporary
 * name and renamed. A copy larger than MAX_BYTES is not kept.
 */
export class FilePartCache implements PartCache {
  static readonly MAX_BYTES = 256 << 20;

  constructor(private readonly dir: string) {}

  async put(source: string, backupId: string, name: string, bytes: Buffer): Promise<void> {
    if (bytes.length > FilePartCache.MAX_BYTES) return;
    const folder = this.folder(source, backupId);
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const file = join(folder, segment(name));
    const temp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
    await writeFile(temp, bytes, { mode: 0o600 });
    await rename(temp, file);
  }

  async get(source: string, backupId: string, name: string): Promise<Buffer | undefined> {
    const file = join(this.folder(source, backupId), segment(name));
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile() || info.size > FilePartCache.MAX_BYTES) return undefined;
    return readFile(file);
  }

  async has(source: string, backupId: string): Promise<boolean> {
    const names = await readdir(this.folder(source, backupId)).catch(() => []);
    return names.some((n) => !n.includes('.tmp-'));
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

/** One path segment that cannot climb out of its folder. */
function segment(name: string): string {
  const s = encodeURIComponent(name);
  return s === '.' || s === '..' ? `%2E${s.slice(1)}` : s;
}
