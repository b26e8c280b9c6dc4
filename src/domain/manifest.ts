import { type BackupKind, type Engine, isBackupKind, isEngine } from './backup-kind.js';
import { isBackupId } from './backup-id.js';
import { DbBackupError } from './errors.js';
import type { ManifestAuth } from './manifest-auth.js';
import { checkChainFields, type ManifestChainFields } from './manifest-chain.js';
import { isValidScheduleName } from './schedule.js';

/**
 * 2 added the chain fields (ManifestChainFields) and `auth` (domain/manifest-auth.ts); 3 lets an
 * engine's change parts refer to its chain's full (SQLite link page maps stored as deltas from the
 * full's, `logPosition.mapBase`), which a format 2 reader would take for damage. 4 lets a SQLite
 * link record only its keyed fast map (no sha256 page map, `logPosition.pageMap` absent), which a
 * format 3 reader would take for damage. 1, 2 and 3 are still read.
 */
export const MANIFEST_FORMAT_VERSION = 4;

/**
 * What a part holds; restore uses it to order work (schema before data, data before post-data).
 * `changes` is what change capture writes and reads back: an engine's changes (log records, changed
 * pages) and the state they are compared against (SQLite's page map, also stored by a full).
 */
export type PartRole = 'schema' | 'data' | 'post-data' | 'changes';

export interface PartEntry {
  /** Path relative to the backup folder, `/`-separated, e.g. `data/main.0.sqlite.zst`. */
  name: string;
  role: PartRole;
  /** The object (table, collection, database file) this part belongs to, if any. */
  object?: string;
  /** Codec ids applied in order when writing (`['zstd']`, `['gzip']`, `[]` for stored as is). */
  codecs: string[];
  rawSize: number;
  storedSize: number;
  /**
   * sha256 hex of the bytes as they were produced by the database, before any codec. Left out when
   * the codec chain checks its own output on reading (zstd's content checksum, gzip's CRC, an AEAD
   * cipher): the decoded bytes are proven by that, and hashing every raw byte would cost a backup
   * about a sixth of its CPU. For a part stored as is it equals `sha256`.
   */
  rawSha256?: string;
  /** sha256 hex of the bytes as they are stored. */
  sha256: string;
}

/** A per-backup data key, wrapped by a key-encryption key (never stored in the clear). */
export interface WrappedKey {
  keyId: string;
  scheme: 'age-scrypt' | 'age-x25519' | 'aes-256-gcm-keyfile';
  data: string;
}

export interface ManifestEncryption {
  /** The stream cipher's codec id (the last entry of every part's codec list). */
  cipher: string;
  keyId: string;
  wrapped: WrappedKey;
}

/** How one target of a multi-target backup fared. */
export interface TargetOutcome {
  /** The repository's printable location (no credentials). */
  location: string;
  ok: boolean;
  /** `CODE: message` when it failed. */
  error?: string;
}

export interface ObjectEntry {
  /** Engine-qualified name, e.g. `users` (SQLite), `public.users` (PostgreSQL). */
  name: string;
  type: string;
  rows?: number;
  rawBytes?: number;
  /**
   * An order-independent digest of the table's rows (16 hex digits; the connector's
   * table-digest.ts), computed while dumping, so that `verify --deep` compares contents and not
   * only counts. Absent (older backups, engines or kinds that do not compute it): counts only.
   */
  contentHash?: string;
}

export interface Manifest extends ManifestChainFields {
  formatVersion: number;
  id: string;
  source: string;
  engine: Engine;
  serverVersion: string;
  kind: BackupKind;
  /** Incremental: the previous backup. Differential: its full. Full: null. */
  parent: string | null;
  /** The full backup the chain starts from (null for a full). */
  baseFull: string | null;
  startedAt: string;
  finishedAt: string;
  /** When the snapshot was taken: the instant the data is consistent at. */
  consistentAt: string;
  /** Engine log position the snapshot is consistent at (LSN, binlog, oplog time, page map). */
  logPosition: Record<string, unknown> | null;
  objects: ObjectEntry[];
  parts: PartEntry[];
  warnings: string[];
  toolVersion: string;
  /** Engine-specific facts a restore needs (e.g. SQLite page size). Never a secret. */
  engineInfo: Record<string, unknown>;
  /** Present when the parts are encrypted. */
  encryption?: ManifestEncryption | null;
  /**
   * A multi-target backup: every target it was written to and how each fared when this manifest
   * was written (a later failure is in the catalog). Absent for a single target.
   */
  targets?: TargetOutcome[];
  /** `sequential` fan-out: this copy was made from the first target's stored bytes. */
  copiedFrom?: string;
  /**
   * The scheduled run that took this backup (absent for a backup taken by hand, and before it was
   * recorded): lets the run's outcome be recorded from the repository when its process died after
   * the manifest was written but before it recorded the run. Older readers ignore it.
   */
  scheduledRun?: ScheduledRunRef;
  /** The MAC and/or signature over everything else (domain/manifest-auth.ts); absent before format 2. */
  auth?: ManifestAuth;
}

/** A scheduled run as the schedule store knows it: its id there, its schedule and the slot it is for. */
export interface ScheduledRunRef {
  id: number;
  schedule: string;
  /** ISO time of the cron slot. */
  slot: string;
}

export function totalStoredSize(m: Manifest): number {
  return m.parts.reduce((n, p) => n + p.storedSize, 0);
}

export function totalRawSize(m: Manifest): number {
  return m.parts.reduce((n, p) => n + p.rawSize, 0);
}

export function durationMs(m: Manifest): number {
  return Date.parse(m.finishedAt) - Date.parse(m.startedAt);
}

const SHA256 = /^[0-9a-f]{64}$/;

function isScheduledRunRef(v: unknown): v is ScheduledRunRef {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.id === 'number' && Number.isSafeInteger(r.id) && r.id > 0 && typeof r.schedule === 'string' && isValidScheduleName(r.schedule) && typeof r.slot === 'string' && r.slot.length <= 40 && !Number.isNaN(Date.parse(r.slot));
}
const CONTENT_HASH = /^[0-9a-f]{16}$/;
const PART_NAME = /^(?!\/)(?!.*\.\.)[A-Za-z0-9._\-/%@+=]+$/;

/**
 * Checks a parsed manifest.json. Throws E_FORMAT_VERSION for a newer format and E_FOREIGN_ARCHIVE
 * for anything that is not a dbbackup manifest, naming the first field that is wrong.
 */
export function parseManifest(value: unknown, where: string): Manifest {
  const bad = (field: string): never => {
    throw new DbBackupError(
      'E_FOREIGN_ARCHIVE',
      `${where} is not a valid dbbackup manifest (field "${field}" is missing or wrong); ` +
        'the backup may be damaged or written by another tool.',
      { details: { where, field } },
    );
  };
  if (typeof value !== 'object' || value === null) return bad('(root)');
  const m = value as Record<string, unknown>;
  if (typeof m.formatVersion !== 'number' || !Number.isInteger(m.formatVersion) || m.formatVersion < 1) bad('formatVersion');
  if ((m.formatVersion as number) > MANIFEST_FORMAT_VERSION) {
    throw new DbBackupError(
      'E_FORMAT_VERSION',
      `${where} uses backup format ${String(m.formatVersion)}, newer than this dbbackup understands ` +
        `(${MANIFEST_FORMAT_VERSION}); upgrade dbbackup to read it.`,
    );
  }
  if (typeof m.id !== 'string' || !isBackupId(m.id)) bad('id');
  if (typeof m.source !== 'string' || m.source === '') bad('source');
  if (typeof m.engine !== 'string' || !isEngine(m.engine)) bad('engine');
  if (typeof m.kind !== 'string' || !isBackupKind(m.kind)) bad('kind');
  for (const f of ['startedAt', 'finishedAt', 'consistentAt'] as const) {
    if (typeof m[f] !== 'string' || Number.isNaN(Date.parse(m[f] as string))) bad(f);
  }
  if (!Array.isArray(m.parts)) bad('parts');
  if (!Array.isArray(m.objects)) bad('objects');
  (m.parts as unknown[]).forEach((p, i) => {
    if (typeof p !== 'object' || p === null) bad(`parts[${i}]`);
    const part = p as Record<string, unknown>;
    if (typeof part.name !== 'string' || !PART_NAME.test(part.name)) bad(`parts[${i}].name`);
    if (typeof part.sha256 !== 'string' || !SHA256.test(part.sha256)) bad(`parts[${i}].sha256`);
    if (part.rawSha256 !== undefined && (typeof part.rawSha256 !== 'string' || !SHA256.test(part.rawSha256))) bad(`parts[${i}].rawSha256`);
    if (typeof part.storedSize !== 'number' || typeof part.rawSize !== 'number') bad(`parts[${i}].size`);
    if (!Array.isArray(part.codecs)) bad(`parts[${i}].codecs`);
  });
  (m.objects as unknown[]).forEach((o, i) => {
    if (typeof o !== 'object' || o === null || typeof (o as { name?: unknown }).name !== 'string') bad(`objects[${i}]`);
    const { rows, contentHash } = o as { rows?: unknown; contentHash?: unknown };
    if (rows !== undefined && (typeof rows !== 'number' || !Number.isSafeInteger(rows) || rows < 0)) bad(`objects[${i}].rows`);
    if (contentHash !== undefined && (typeof contentHash !== 'string' || !CONTENT_HASH.test(contentHash))) bad(`objects[${i}].contentHash`);
  });
  checkChainFields(m, bad);
  if (m.scheduledRun !== undefined && !isScheduledRunRef(m.scheduledRun)) bad('scheduledRun');
  return {
    parent: null,
    baseFull: null,
    logPosition: null,
    warnings: [],
    engineInfo: {},
    serverVersion: '',
    toolVersion: '',
    ...(m as object),
  } as unknown as Manifest;
}
