import { randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobDigest, BlobInfo, BlobStore, ByteRange, PutOptions } from '../../../application/ports/blob-store.js';
import { DbBackupError, isNoSpace, noSpaceError } from '../../../domain/errors.js';
import { syncFolder } from '../../../infrastructure/files.js';
import { hashPool, hashSmallFile, INLINE_HASH_MAX } from '../../../infrastructure/hash-pool.js';

const TEMP_MARK = '.dbbackup-tmp-';
/** How many checked folders a store remembers (a backup writes into a handful). */
const MAX_REMEMBERED_FOLDERS = 1024;

/** Opening the final path component never follows a link (0 where the platform has no such flag). */
const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;

/**
 * A repository in a local folder. A put writes to a temp name beside the target, fsyncs, then
 * renames, so a reader never sees a half-written object and a crash leaves only `*.dbbackup-tmp-*`.
 * Private by default (as restic): folders it creates are 0700 and files 0600, whatever the umask.
 * It never follows a symbolic link below the root: a key whose path crosses one is refused with
 * E_STORAGE (a link could make a backup write, read or delete outside the repository).
 *
 * Folder fsyncs (which make a rename survive a crash) are the per-object fixed cost: a `batched` put
 * fsyncs its file but only notes its folder (and the parent of any folder it created); the next put
 * without `batched` fsyncs every noted folder once, before its own rename, then its own folder. So a
 * backup's parts are durable, names included, before its manifest can exist, as with a sync per part.
 */
export class LocalBlobStore implements BlobStore {
  readonly root: string;
  /** Folders holding names from batched puts that no folder fsync has covered yet. */
  private readonly unsynced = new Set<string>();
  /** Folders below the root checked to be real folders (see checkedPath). */
  private readonly realFolders = new Set<string>();
  private readonly syncFolder: (dir: string) => Promise<void>;

  /** `options.syncFolder` replaces the folder fsync (tests record the order of syncs and renames). */
  constructor(root: string, options: { syncFolder?: (dir: string) => Promise<void> } = {}) {
    this.root = resolve(root);
    this.syncFolder = options.syncFolder ?? syncFolder;
  }

  get location(): string {
    return this.root;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<BlobInfo> {
    const path = await this.checkedPath(key);
    const created = await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((err: unknown) => {
      throw storageError(err, `write ${path}`);
    });
    // Noted at once: a later put in these folders would not see that mkdir created them.
    const parents = parentsOfCreated(created, dirname(path));
    if (options.batched) for (const dir of parents) this.unsynced.add(dir);
    const temp = `${path}${TEMP_MARK}${randomBytes(4).toString('hex')}`;
    let written: { size: number; mtime: Date };
    try {
      // `flush`: the stream fsyncs its own descriptor before closing it (not a second open per part).
      const sink = createWriteStream(temp, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20, flush: true });
      await pipeline(body, sink, options.signal ? { signal: options.signal } : {});
      written = await lstat(temp);
      if (options.batched) {
        await rename(temp, path);
        this.unsynced.add(dirname(path));
      } else {
        // Every batched name before this object's: a crash must never keep it without them.
        await this.syncFolders([...this.unsynced]);
        await rename(temp, path);
        await this.syncFolders([dirname(path), ...parents]);
      }
    } catch (err) {
      await rm(temp, { force: true });
      throw storageError(err, `write ${path}`);
    }
    // A rename keeps the file's size and mtime: no stat of the final name.
    return { key, size: written.size, modifiedAt: written.mtime };
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    // The file itself is opened O_NOFOLLOW (a link there fails with ELOOP): only its folders are checked.
    const path = await this.checkedPath(key, false);
    const handle = await open(path, constants.O_RDONLY | NO_FOLLOW).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR' || err.code === 'EISDIR') return undefined;
      if (err.code === 'ELOOP') throw linkRefused(path);
      throw storageError(err, `read ${key}`);
    });
    if (!handle) throw notFound(this.root, key);
    if (!(await handle.stat()).isFile()) {
      await handle.close();
      throw notFound(this.root, key);
    }
    return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: 256 << 10 });
  }

  /** Hashed on worker threads (several files at once, beside the event loop); small files on the event loop. */
  async digest(key: string, signal?: AbortSignal): Promise<BlobDigest | undefined> {
    const path = await this.checkedPath(key, false);
    const info = await lstat(path).catch(() => undefined);
    if (info?.isSymbolicLink()) throw linkRefused(path);
    if (!info?.isFile()) return undefined;
    return (info.size <= INLINE_HASH_MAX ? hashSmallFile(path, signal) : hashPool().hashFile(path, signal))
      .catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        if (signal?.aborted) throw err;
        throw storageError(err, `read ${key}`);
      });
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    // Walk only the folder the prefix names, then filter by the rest of the prefix.
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash + 1);
    yield* this.walk(base, prefix);
  }

  private async *walk(relDir: string, prefix: string): AsyncIterable<BlobInfo> {
    const dir = relDir === '' ? this.root : this.pathOf(relDir.slice(0, -1));
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
      throw storageError(err, `list ${dir}`);
    });
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const key = relDir + entry.name;
      if (entry.isSymbolicLink() && (key.startsWith(prefix) || prefix.startsWith(`${key}/`))) throw linkRefused(join(dir, entry.name));
      if (entry.isDirectory()) {
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(`${key}/`, prefix);
      } else if (entry.isFile() && key.startsWith(prefix) && !entry.name.includes(TEMP_MARK)) {
        const info = await lstat(join(dir, entry.name)).catch(() => undefined);
        if (info?.isFile()) yield { key, size: info.size, modifiedAt: info.mtime };
      }
    }
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    const info = await lstat(await this.checkedPath(key)).catch(() => undefined);
    return info?.isFile() ? { key, size: info.size, modifiedAt: info.mtime } : undefined;
  }

  async delete(key: string): Promise<void> {
    const path = await this.checkedPath(key);
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw storageError(err, `delete ${key}`);
    });
    // Folders are an artefact of keys here: remove the ones this delete left empty, but never a
    // top-level (source) folder, which a concurrent backup may be about to write into.
    for (let dir = dirname(path); dirname(dir).startsWith(this.root + sep); dir = dirname(dir)) {
      if (!(await rmdir(dir).then(() => true, () => false))) break;
      this.realFolders.delete(dir);
    }
  }

  /**
   * Fsyncs `dirs`. They stop counting as unsynced before the sync starts, so a batched rename made
   * meanwhile notes its folder again; a failed sync notes them again for the next put.
   */
  private async syncFolders(dirs: string[]): Promise<void> {
    for (const dir of dirs) this.unsynced.delete(dir);
    try {
      await Promise.all(dirs.map((dir) => this.syncFolder(dir)));
    } catch (err) {
      for (const dir of dirs) this.unsynced.add(dir);
      throw err;
    }
  }

  /**
   * The path of `key`, after checking that no existing component below the root is a symbolic link
   * (`leaf` false: only its folders, for a caller that refuses a link at the file itself).
   */
  private async checkedPath(key: string, leaf = true): Promise<string> {
    const path = this.pathOf(key);
    const segments = key.split('/');
    let at = this.root;
    for (const [i, segment] of segments.entries()) {
      at = join(at, segment);
      const folder = i < segments.length - 1;
      if (!folder && !leaf) break;
      if (folder && this.realFolders.has(at)) continue;
      const info = await lstat(at).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
        throw storageError(err, `read ${at}`);
      });
      if (!info) break;
      if (info.isSymbolicLink()) throw linkRefused(at);
      if (folder && info.isDirectory()) this.rememberFolder(at);
    }
    return path;
  }

  /**
   * Notes a folder found to be a real one (not a link), so the next key below it is not checked
   * again: each put into a backup's data/ folder lstat'ed every component of its path (four calls
   * per part, most of a small part's cost). Bounded; a deleted folder is forgotten (see delete).
   */
  private rememberFolder(dir: string): void {
    if (this.realFolders.size >= MAX_REMEMBERED_FOLDERS) this.realFolders.clear();
    this.realFolders.add(dir);
  }

  private pathOf(key: string): string {
    if (key === '' || key.startsWith('/') || key.split('/').some((s) => s === '..' || s === '.' || s === '')) {
      throw new DbBackupError('E_INTERNAL', `Invalid storage key "${key}".`);
    }
    const path = join(this.root, ...key.split('/'));
    if (!path.startsWith(this.root + sep)) throw new DbBackupError('E_INTERNAL', `Invalid storage key "${key}".`);
    return path;
  }
}

/**
 * The folders whose entries a recursive mkdir added: the parent of each folder it created, from the
 * first created (`created`, as mkdir returns it) down to `dir`. None when it created nothing.
 */
function parentsOfCreated(created: string | undefined, dir: string): string[] {
  if (created === undefined) return [];
  const parents: string[] = [];
  for (let at = dir; at.length >= created.length; at = dirname(at)) parents.push(dirname(at));
  return parents;
}

function linkRefused(path: string): DbBackupError {
  return new DbBackupError(
    'E_STORAGE',
    `${path} is a symbolic link; a repository folder never follows links (one could lead outside it). Replace it with the file or folder itself.`,
    { details: { path } },
  );
}

function notFound(root: string, key: string): DbBackupError {
  return new DbBackupError('E_NOT_FOUND', `${join(root, key)} does not exist.`, { details: { key } });
}

export function storageError(err: unknown, what: string): unknown {
  if (err instanceof DbBackupError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError') return err;
  if (isNoSpace(err)) return noSpaceError(err, what.replace(/^write /, ''), 'free space there or choose another --out.');
  const hint =
    e?.code === 'EACCES' || e?.code === 'EPERM'
        ? ' Permission denied; check the folder permissions.'
        : e?.code === 'EROFS'
          ? ' The file system is read-only.'
          : '';
  return new DbBackupError('E_STORAGE', `Could not ${what}: ${e?.message ?? String(err)}.${hint}`, { cause: err });
}
