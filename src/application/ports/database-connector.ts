import type { Readable } from 'node:stream';
import type { BackupKind, Engine } from '../../domain/backup-kind.js';
import type { Manifest, ObjectEntry, PartEntry, PartRole } from '../../domain/manifest.js';

/** How to reach a database. Secrets are resolved by the caller; connectors never log this whole. */
export interface ConnectionTarget {
  engine: Engine;
  /** Server URL (postgres://…, mysql://…, mongodb://…). */
  url?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  /** Database name, or for SQLite the database file path. */
  database?: string;
  options?: Record<string, unknown>;
}

export interface ConnectorCapabilities {
  incremental: boolean;
  pointInTime: boolean;
  selectiveRestore: boolean;
  /** True when a failed restore leaves the target as it was (so parts may be verified while streaming). */
  atomicRestore: boolean;
  /**
   * True when the connector's restore honours PartSource.checked: it may read the schema part and
   * look at the target while the stored bytes are checked, and awaits `checked` before it changes
   * anything. Otherwise the restore starts only after the checks passed.
   */
  prepareDuringChecks?: boolean;
}

/** Filters of a dump; names are engine-qualified as in ObjectEntry.name. */
export interface DumpRequest {
  kind: BackupKind;
  tables?: string[];
  excludeTables?: string[];
  parallel: number;
}

export interface PartSpec {
  /** Base name without codec suffix, e.g. `data/main.0.sqlite` (the writer appends `.zst`). */
  name: string;
  role: PartRole;
  object?: string;
  /** Exact raw size when known up front. */
  rawSize?: number;
}

/** Where a connector sends its parts: each call runs the whole pipeline for that part. */
export interface PartSink {
  write(spec: PartSpec, body: Readable): Promise<PartEntry>;
}

export interface DumpResult {
  serverVersion: string;
  consistentAt: Date;
  logPosition: Record<string, unknown> | null;
  objects: ObjectEntry[];
  warnings: string[];
  engineInfo: Record<string, unknown>;
}

/** Streams a part's raw bytes back, checksums verified as they flow (the stream errors on mismatch). */
export interface PartSource {
  readonly manifest: Manifest;
  open(part: PartEntry): Promise<Readable>;
  /**
   * Set while every part's stored bytes are still being checked (see prepareDuringChecks):
   * resolves when all passed, rejects with the damage found. Nothing may change the target before.
   */
  readonly checked?: Promise<void>;
}

export interface RestoreRequest {
  /** Only these objects (engine-qualified); all when undefined. */
  tables?: string[];
  /** Replace what exists in the target instead of refusing. */
  clean: boolean;
  /** Leave these objects out (engine-qualified). */
  excludeTables?: string[];
  /** Only objects in these schemas (engines with schemas), with what they need. */
  schemas?: string[];
  /** Create the target database when it does not exist. */
  create?: boolean;
  /** Connections used to load data and build indexes (default: CPU cores). */
  parallel?: number;
  /** Also restore object owners / grants (off by default: the roles may not exist on the target). */
  restoreOwner?: boolean;
  restoreGrants?: boolean;
}

export interface RestorePlanItem {
  object: string;
  type: string;
  rows?: number;
  bytes: number;
  action: 'create' | 'replace' | 'skip';
}

export interface RestorePlan {
  target: string;
  targetExists: boolean;
  targetEmpty: boolean;
  /** What the restore would do to the target as a whole. */
  effect: 'create' | 'replace' | 'merge';
  items: RestorePlanItem[];
  warnings: string[];
}

export interface RestoreOutcome {
  objects: string[];
  rows: number;
  /** Things the user should know about how the restore went (e.g. a slower path taken, and why). */
  warnings?: string[];
}

export interface DatabaseSession {
  /** The server or file answers and the credentials work; throws E_CONN_REFUSED / E_AUTH otherwise. */
  test(): Promise<void>;
  /** The objects a dump with these filters would hold (no data read beyond counts). */
  inspect(filter: { tables?: string[]; excludeTables?: string[] }): Promise<ObjectEntry[]>;
  /** Writes a consistent snapshot as parts into `sink`. */
  dump(request: DumpRequest, sink: PartSink, signal: AbortSignal): Promise<DumpResult>;
  /** What restoring `manifest` into this target would do; changes nothing. */
  planRestore(manifest: Manifest, request: RestoreRequest): Promise<RestorePlan>;
  /** Restores from `parts`; refuses a non-empty target unless `request.clean` (E_TARGET_EXISTS). */
  restore(parts: PartSource, request: RestoreRequest, signal: AbortSignal): Promise<RestoreOutcome>;
  close(): Promise<void>;
}

export interface DatabaseConnector {
  readonly engine: Engine;
  readonly capabilities: ConnectorCapabilities;
  /** Opens a session; for a restore target that does not exist yet, `purpose` is 'restore'. */
  connect(target: ConnectionTarget, purpose: 'backup' | 'restore'): Promise<DatabaseSession>;
  /** A default source name for backups of `target` (e.g. the database name). */
  defaultSourceName(target: ConnectionTarget): string;
}

export interface ConnectorRegistry {
  /** The connector for `engine` (loaded on first use); rejects with E_UNSUPPORTED when none is installed. */
  get(engine: string): Promise<DatabaseConnector>;
}
