import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlobStore } from '../../application/ports/blob-store.js';
import type { Logger } from '../../application/ports/logger.js';
import type { OpenOptions, OpenedRepository, RepositoryOpener } from '../../application/ports/repository-opener.js';
import { DbBackupError } from '../../domain/errors.js';
import { CLOUD_SCHEMES, type StorageOptions, storageOptionsFromEnv } from './cloud/storage-options.js';
import { LocalBlobStore } from './local/local-blob-store.js';

export type ArchiveFormat = 'tar.gz' | 'zip';

/** `.tar.gz`/`.tgz` and `.zip` paths are single-file archives; anything else local is a folder. */
export function archiveFormatOf(path: string): ArchiveFormat | undefined {
  if (/\.(tar\.gz|tgz)$/i.test(path)) return 'tar.gz';
  if (/\.zip$/i.test(path)) return 'zip';
  return undefined;
}

/**
 * Opens local folders and archive files, and `s3://`, `gs://`, `azure://` repositories (each its
 * adapter inside a RetryingBlobStore). Cloud settings come from `storage()`, read at each open
 * (by default from the environment: DBBACKUP_S3_ENDPOINT, AWS_*, AZURE_STORAGE_*, …).
 */
export class LocalRepositoryOpener implements RepositoryOpener {
  constructor(
    private readonly storage: (url: string) => StorageOptions = () => storageOptionsFromEnv(process.env),
    /** Where cloud repositories log their retries (one line per retry). */
    private readonly logger?: Logger,
  ) {}

  async open(url: string, mode: 'read' | 'write', options: OpenOptions = {}): Promise<OpenedRepository> {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
    if (scheme && (CLOUD_SCHEMES as readonly string[]).includes(scheme)) {
      // Loaded on demand: the cloud SDKs would slow every command's start-up.
      const { openCloudRepository } = await import('./cloud/open-cloud-store.js');
      return openCloudRepository(url, this.storage(url), undefined, this.logger);
    }
    if (scheme && scheme !== 'file') {
      throw new DbBackupError(
        'E_UNSUPPORTED',
        `Repository URL scheme "${scheme}://" is not supported; use a local folder, a .tar.gz/.zip file, s3://, gs:// or azure://.`,
      );
    }
    const path = resolve(scheme === 'file' ? fileURLToPath(url) : url);
    const format = archiveFormatOf(path);
    if (format) return mode === 'write' ? this.writeArchive(path, format, options) : this.readArchive(path, format);
    return mode === 'write' ? this.writeFolder(path) : this.readFolder(path);
  }

  private async writeArchive(path: string, format: ArchiveFormat, options: OpenOptions): Promise<OpenedRepository> {
    if (await exists(path)) {
      throw new DbBackupError('E_TARGET_EXISTS', `${path} already exists; choose another --out name or remove the old archive first.`);
    }
    const parent = await stat(dirname(path)).catch(() => undefined);
    if (!parent?.isDirectory()) {
      throw new DbBackupError('E_NOT_FOUND', `The folder ${dirname(path)} does not exist; create it first.`);
    }
    const level = options.level ?? 6;
    if (!Number.isInteger(level) || level < 1 || level > 9) {
      throw new DbBackupError('E_USAGE', `.${format} archives compress with deflate levels 1–9; got --level ${level}.`);
    }
    // Loaded on use: most runs never touch an archive (tar-stream, fflate).
    const store =
      format === 'tar.gz'
        ? new (await import('./archive/tar-gz-archive.js')).TarGzArchiveWriter(path, level)
        : new (await import('./archive/zip-archive.js')).ZipArchiveWriter(path, level);
    return {
      store,
      kind: 'archive',
      // The archive compresses as a whole; parts inside stay plain so `tar xzf`/`unzip` give readable files.
      forcedCodecs: [],
      commit: () => store.commit(),
      abort: () => store.abort(),
      close: async () => undefined,
    };
  }

  private async readArchive(path: string, format: ArchiveFormat): Promise<OpenedRepository> {
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) throw new DbBackupError('E_NOT_FOUND', `${path} does not exist or is not a file; check the path.`);
    const store: BlobStore & { close?(): void } =
      format === 'tar.gz'
        ? new (await import('./archive/tar-gz-archive.js')).TarGzArchiveReader(path)
        : new (await import('./archive/zip-archive.js')).ZipArchiveReader(path);
    return readOnlyRepo(store, 'archive');
  }

  private async writeFolder(path: string): Promise<OpenedRepository> {
    const info = await stat(path).catch(() => undefined);
    if (info && !info.isDirectory()) {
      throw new DbBackupError('E_USAGE', `${path} is a file, not a folder; give a folder, or a name ending in .tar.gz or .zip.`);
    }
    await mkdir(path, { recursive: true, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      throw new DbBackupError('E_STORAGE', `Cannot create the repository folder ${path}: ${err.message}`, { cause: err });
    });
    const store = new LocalBlobStore(path);
    return { store, kind: 'folder', commit: async () => undefined, abort: async () => undefined, close: async () => undefined };
  }

  private async readFolder(path: string): Promise<OpenedRepository> {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new DbBackupError('E_NOT_FOUND', `The repository folder ${path} does not exist; check --from.`);
    if (!info.isDirectory()) {
      throw new DbBackupError('E_USAGE', `${path} is a file; to read a single-file backup use --file, or name a .tar.gz/.zip.`);
    }
    return readOnlyRepo(new LocalBlobStore(path), 'folder');
  }
}

function readOnlyRepo(store: BlobStore & { close?(): void }, kind: string): OpenedRepository {
  return {
    store,
    kind,
    commit: async () => undefined,
    abort: async () => undefined,
    close: async () => store.close?.(),
  };
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}
