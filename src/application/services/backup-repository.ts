import { Readable } from 'node:stream';
import { compareBackups } from '../../domain/chain.js';
import { DbBackupError, isDbBackupError } from '../../domain/errors.js';
import { type Manifest, parseManifest } from '../../domain/manifest.js';
import {
  REPO_FORMAT,
  REPO_FORMAT_VERSION,
  REPO_MARKER_KEY,
  type RepositoryMarker,
  manifestKey,
  parseManifestKey,
} from '../../domain/repository-layout.js';
import type { BlobStore } from '../ports/blob-store.js';

const MAX_JSON_BYTES = 64 << 20;

/** Reads a small JSON object whole (manifests, markers); refuses anything over 64 MiB. */
export async function readJson(store: BlobStore, key: string): Promise<unknown> {
  const stream = await store.get(key);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BYTES) {
      stream.destroy();
      throw new DbBackupError('E_FOREIGN_ARCHIVE', `${store.location}/${key} is too large to be a dbbackup metadata file.`);
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${store.location}/${key} is not valid JSON; the repository is damaged.`, {
      cause: err,
    });
  }
}

export async function writeJson(store: BlobStore, key: string, value: unknown): Promise<void> {
  const bytes = Buffer.from(`${formatJson(value)}\n`, 'utf8');
  await store.put(key, Readable.from([bytes]), { size: bytes.length });
}

/**
 * JSON for a person to read and a machine to parse: the first two levels indented, anything deeper
 * on one line, so a manifest lists one object or part per line. A 10,000-collection manifest was
 * 8.0 MB indented all the way down (most of the backup's stored bytes).
 */
export function formatJson(value: unknown, depth = 0): string {
  const v = value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function' ? (value as { toJSON(): unknown }).toJSON() : value;
  if (v === null || typeof v !== 'object' || depth >= 2) return JSON.stringify(v) ?? 'null';
  const pad = '  '.repeat(depth + 1);
  const end = '  '.repeat(depth);
  const items = Array.isArray(v)
    ? v.map((x) => formatJson(x === undefined || typeof x === 'function' ? null : x, depth + 1))
    : Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined && typeof x !== 'function')
        .map(([k, x]) => `${JSON.stringify(k)}: ${formatJson(x, depth + 1)}`);
  if (items.length === 0) return Array.isArray(v) ? '[]' : '{}';
  const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
  return `${open}\n${pad}${items.join(`,\n${pad}`)}\n${end}${close}`;
}

/** Reads the repository marker; undefined for an empty place, E_FOREIGN_ARCHIVE for someone else's. */
export async function readMarker(store: BlobStore): Promise<RepositoryMarker | undefined> {
  const info = await store.stat(REPO_MARKER_KEY);
  if (!info) return undefined;
  const marker = (await readJson(store, REPO_MARKER_KEY)) as Partial<RepositoryMarker>;
  if (marker.format !== REPO_FORMAT) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${store.location} has a ${REPO_MARKER_KEY} that is not a dbbackup repository marker.`);
  }
  if ((marker.version ?? 0) > REPO_FORMAT_VERSION) {
    throw new DbBackupError(
      'E_FORMAT_VERSION',
      `${store.location} uses repository format ${String(marker.version)}; upgrade dbbackup to use it.`,
    );
  }
  return marker as RepositoryMarker;
}

export function newMarker(now: Date): RepositoryMarker {
  return { format: REPO_FORMAT, version: REPO_FORMAT_VERSION, createdAt: now.toISOString(), encryption: null };
}

/** Makes `store` a repository if it is not one yet; returns its marker. */
export async function ensureMarker(store: BlobStore, now: Date): Promise<RepositoryMarker> {
  const existing = await readMarker(store);
  if (existing) return existing;
  const marker = newMarker(now);
  await writeJson(store, REPO_MARKER_KEY, marker);
  return marker;
}

export async function readManifest(store: BlobStore, source: string, id: string): Promise<Manifest> {
  const key = manifestKey(source, id);
  const manifest = parseManifest(await readJson(store, key), `${store.location}/${key}`);
  if (manifest.id !== id || manifest.source !== source) {
    throw new DbBackupError('E_FOREIGN_ARCHIVE', `${store.location}/${key} describes ${manifest.source}/${manifest.id}, not ${source}/${id}.`);
  }
  return manifest;
}

export interface ScanResult {
  manifests: Manifest[];
  /** Manifests that could not be read, with why (listed, never fatal for a scan). */
  damaged: { key: string; source: string; id: string; error: DbBackupError }[];
}

/**
 * Every complete backup in the repository (those with a manifest), oldest first.
 * Throws E_NOT_FOUND when the place is not a dbbackup repository at all.
 */
export async function scanRepository(store: BlobStore, filter: { source?: string } = {}): Promise<ScanResult> {
  const marker = await readMarker(store);
  if (!marker) {
    throw new DbBackupError(
      'E_NOT_FOUND',
      `${store.location} is not a dbbackup repository (no ${REPO_MARKER_KEY}); check the path, or run a backup into it first.`,
    );
  }
  const keys: { key: string; source: string; id: string }[] = [];
  for await (const info of store.list(filter.source ? `${filter.source}/` : '')) {
    const parsed = parseManifestKey(info.key);
    if (parsed && (!filter.source || parsed.source === filter.source)) keys.push({ key: info.key, ...parsed });
  }
  // Read a few at a time: a chain's every backup is read before each incremental, and on a cloud
  // store each read is a round trip.
  const read = await mapBounded(keys, SCAN_READS, (k) =>
    readManifest(store, k.source, k.id).then(
      (manifest) => ({ manifest }),
      (err: unknown) => {
        if (!isDbBackupError(err)) throw err;
        return { damaged: { ...k, error: err } };
      },
    ),
  );
  const manifests = read.flatMap((r) => ('manifest' in r ? [r.manifest] : []));
  const damaged: ScanResult['damaged'] = read.flatMap((r) => ('damaged' in r ? [r.damaged] : []));
  manifests.sort(compareBackups);
  return { manifests, damaged };
}

/** Manifest reads a scan keeps in flight. */
const SCAN_READS = 8;

/** `fn` over `items` with at most `limit` calls in flight; results in the items' order; the first failure rejects. */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
