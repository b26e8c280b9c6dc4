import { DbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import type { ConnectionTarget } from '../ports/connection-target.js';
import type { ConnectorRegistry } from '../ports/connector-registry.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { Logger } from '../ports/logger.js';
import type { ManifestTrust } from '../services/manifest-auth.js';
import type { RestoreBackup } from './restore-backup.js';

/** The object types that hold rows a scratch copy is read back for (tables; MongoDB's collections). */
const DATA_OBJECTS = new Set(['table', 'collection', 'timeseries']);

export interface VerifyRestoreInput {
  /** Where the backup is (VerifyBackup's result) and the backup itself. */
  repository: string;
  manifest: Manifest;
  /** The server the scratch database goes on (`--scratch URL`); file engines need none. */
  scratch?: Omit<ConnectionTarget, 'engine'>;
  keys?: KeyEncryptionKey[];
  trust?: ManifestTrust;
}

export interface RestoredTable {
  table: string;
  /** What the backup recorded (undefined: it recorded no count for it). */
  expectedRows?: number;
  /** What the scratch copy holds (undefined: the table is not there). */
  rows?: number;
  /** What the backup recorded of its contents (undefined: counts only, see ObjectEntry.contentHash). */
  expectedHash?: string;
  hash?: string;
  /** SQLite: the hash of the table's pages the backup recorded, and the scratch copy's (see ObjectEntry.pagesHash). */
  expectedPagesHash?: string;
  pagesHash?: string;
  ok: boolean;
}

export interface VerifyRestoreResult {
  scratch: string;
  tables: RestoredTable[];
}

/**
 * `verify --deep`: restores the backup into a scratch database (a temp file for SQLite, a new
 * database on the server `scratch` names), reads every table of it back (row counts and content
 * hashes) and checks each against the row counts and content hashes the backup recorded while
 * dumping (SQLite's: the hash of each table's pages; a backup that recorded no hash of a table —
 * older ones — is checked by its count); the scratch is dropped after, whatever happened. A table missing, of another count or
 * of other contents fails E_DIFFERENT (exit 4) naming it.
 */
export class VerifyRestore {
  constructor(private readonly deps: { connectors: ConnectorRegistry; restoreBackup: RestoreBackup; logger: Logger }) {}

  async execute(input: VerifyRestoreInput, signal: AbortSignal): Promise<VerifyRestoreResult> {
    const { manifest } = input;
    const connector = await this.deps.connectors.get(manifest.engine);
    if (!connector.scratch) throw new DbBackupError('E_UNSUPPORTED', `verify --deep cannot restore ${manifest.engine} backups into a scratch database.`);
    const target = await connector.scratch.allocate(input.scratch ? { ...input.scratch, engine: manifest.engine } : undefined, manifest);
    const where = target.url ? `${target.database} on the --scratch server` : (target.database ?? 'a scratch database');
    try {
      await this.deps.restoreBackup.execute(
        { repository: input.repository, backup: manifest.id, source: manifest.source, target, clean: false, options: { create: true }, keys: input.keys, trust: input.trust },
        signal,
      );
      const session = await connector.connect(target, 'backup');
      let digests;
      try {
        if (!session.contents) throw new DbBackupError('E_UNSUPPORTED', `verify --deep cannot read ${manifest.engine} tables back.`);
        digests = await session.contents.digest({ pages: manifest.objects.some((o) => o.pagesHash !== undefined) }, signal);
      } finally {
        await session.close();
      }
      const byName = new Map(digests.map((d) => [d.table, d]));
      // MySQL and MongoDB name tables `db.t` in the manifest and `t` in the one scratch database.
      const find = (name: string) => byName.get(name) ?? byName.get(name.slice(name.indexOf('.') + 1));
      const tables: RestoredTable[] = manifest.objects
        .filter((o) => DATA_OBJECTS.has(o.type))
        .map((o) => {
          const d = find(o.name);
          const ok =
            d !== undefined &&
            (o.rows === undefined || o.rows === d.rows) &&
            (o.contentHash === undefined || o.contentHash === d.hash) &&
            (o.pagesHash === undefined || o.pagesHash === d.pagesHash);
          const pages = o.pagesHash ? { expectedPagesHash: o.pagesHash, pagesHash: d?.pagesHash } : {};
          return { table: o.name, expectedRows: o.rows, rows: d?.rows, ...(o.contentHash ? { expectedHash: o.contentHash } : {}), hash: d?.hash, ...pages, ok };
        });
      const bad = tables.filter((t) => !t.ok);
      if (bad.length) {
        throw new DbBackupError(
          'E_DIFFERENT',
          `Backup ${manifest.id} restored into a scratch database does not hold what it recorded: ` +
            bad.slice(0, 10).map(difference).join('; ') +
            '.',
          { details: { tables: bad } },
        );
      }
      return { scratch: where, tables };
    } finally {
      await connector.scratch.drop(target).catch((err: unknown) =>
        this.deps.logger.warn('could not drop the scratch database of verify --deep; drop it by hand', { scratch: where, error: String((err as Error)?.message ?? err) }),
      );
    }
  }
}

function difference(t: RestoredTable): string {
  if (t.rows === undefined) return `${t.table} is missing`;
  if (t.expectedRows !== undefined && t.rows !== t.expectedRows) return `${t.table} has ${t.rows} rows, not ${t.expectedRows}`;
  if (t.expectedHash !== undefined && t.hash !== t.expectedHash) return `${t.table} holds other contents (hash ${t.hash}, the backup recorded ${t.expectedHash})`;
  return `${t.table} holds other pages (hash ${t.pagesHash ?? 'none'}, the backup recorded ${t.expectedPagesHash})`;
}
