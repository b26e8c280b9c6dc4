/**
 * Where things live in a repository (DESIGN.md §3). Keys are `/`-separated and relative to the
 * repository root; storage adapters map them to paths, objects or blobs.
 */
export const REPO_MARKER_KEY = 'dbbackup-repo.json';
export const REPO_FORMAT = 'dbbackup-repository';
export const REPO_FORMAT_VERSION = 1;
export const MANIFEST_NAME = 'manifest.json';

/** A key-encryption key known to a repository: its id and a check value, never the key. */
export interface RepositoryKey {
  id: string;
  scheme: string;
  /** Lets a later run tell a wrong passphrase/key before it writes anything. */
  check?: string;
  addedAt: string;
  /** New encrypted backups must use the active key; older keys still open older backups. */
  active: boolean;
}

export interface RepositoryMarker {
  format: typeof REPO_FORMAT;
  version: number;
  createdAt: string;
  encryption: null | { keys: RepositoryKey[] };
}

export function backupPrefix(source: string, id: string): string {
  return `${source}/${id}/`;
}

export function manifestKey(source: string, id: string): string {
  return `${backupPrefix(source, id)}${MANIFEST_NAME}`;
}

export function partKey(source: string, id: string, partName: string): string {
  return `${backupPrefix(source, id)}${partName}`;
}

/** Splits `<source>/<id>/manifest.json` into its source and id, or undefined for any other key. */
export function parseManifestKey(key: string): { source: string; id: string } | undefined {
  const m = /^([^/]+)\/([^/]+)\/manifest\.json$/.exec(key);
  return m ? { source: m[1]!, id: m[2]! } : undefined;
}

const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function isValidSourceName(name: string): boolean {
  return SOURCE_NAME.test(name);
}

/** Turns a database or file name into a safe source name (`My App.db` → `My_App`). */
export function sourceNameFrom(raw: string): string {
  const cleaned = raw
    .replace(/\.(db|sqlite3?|db3)$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._-]+/, '')
    .slice(0, 100);
  return cleaned === '' ? 'db' : cleaned;
}

/** A part file name for an object: `data/<object>.<n>.<ext>` with the object name made path-safe. */
export function dataPartName(object: string, index: number, extension: string): string {
  return `data/${encodeObjectName(object)}.${index}.${extension}`;
}

/** Percent-encodes everything but [A-Za-z0-9._-] so any table name is a valid single path segment. */
export function encodeObjectName(object: string): string {
  return Array.from(new TextEncoder().encode(object))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9_-]/.test(c) || (c === '.' && b !== 0) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('')
    .replace(/^\./, '%2E');
}
