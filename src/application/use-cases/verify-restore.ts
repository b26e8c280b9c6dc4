import { DbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { ConnectionTarget } from '../ports/connection-target.js';
import type { ConnectorRegistry } from '../ports/connector-registry.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { Logger } from '../ports/logger.js';
import type { OpenedRepository, RepositoryOpener } from '../ports/repository-opener.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import type { RecordedParts } from '../ports/table-contents.js';
import { PartReader } from '../pipeline/part-reader.js';
import { authenticateBackup, type ManifestTrust } from '../services/manifest-auth.js';
import type { RestoreBackup } from './restore-backup.js';
import { findChain } from './select-backup.js';

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
  /** SQLite: the hash of the table's pages by the page map the backup recorded, and by the scratch copy's pages (TableDigest). */
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
 * dumping (a backup that recorded no hash of a table — older ones, SQLite — is checked by its
 * count); the scratch is dropped after, whatever happened. SQLite's tables are checked by their
 * pages instead: the page map the backup recorded while it read them (read again from the
 * repository, authenticated like any part) against the scratch file's pages, per table (`parts`
 * given). A table missing, of another count or of other contents fails E_DIFFERENT (exit 4) naming it.
 */
export class VerifyRestore {
  constructor(
    private readonly deps: {
      connectors: ConnectorRegistry;
      restoreBackup: RestoreBackup;
      logger: Logger;
      /** Where the recorded parts an engine compares the scratch with (SQLite's page map) are read from. */
      parts?: { opener: RepositoryOpener; codecs: CodecRegistry; cipher?: StreamCipher };
    },
  ) {}

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
      let repo: OpenedRepository | undefined;
      try {
        if (!session.contents) throw new DbBackupError('E_UNSUPPORTED', `verify --deep cannot read ${manifest.engine} tables back.`);
        const parts = this.deps.parts;
        const recorded = parts && (async () => this.recordedParts(input, parts, (opened) => (repo = opened)));
        digests = await session.contents.digest({ recorded }, signal);
      } finally {
        await session.close();
        await repo?.close();
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
            d.recordedPagesHash === d.pagesHash;
          const pages = d?.recordedPagesHash ? { expectedPagesHash: d.recordedPagesHash, pagesHash: d.pagesHash } : {};
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

  /** The backup's parts and its chain's full's, from its repository (`keep` holds it open until the digest is done). */
  private async recordedParts(
    input: VerifyRestoreInput,
    parts: NonNullable<VerifyRestore['deps']['parts']>,
    keep: (repo: OpenedRepository) => void,
  ): Promise<RecordedParts> {
    const repo = await parts.opener.open(input.repository, 'read');
    keep(repo);
    const { chain } = await findChain(repo.store, input.manifest.id, input.manifest.source, undefined);
    const reader = async (m: (typeof chain)[number]) =>
      new PartReader(repo.store, m, parts.codecs, undefined, await authenticateBackup(repo.store, m, input.keys ?? [], parts.cipher, input.trust, this.deps.logger));
    const backup = await reader(chain.at(-1)!);
    return { backup, full: chain.length > 1 ? await reader(chain[0]!) : backup };
  }
}

function difference(t: RestoredTable): string {
  if (t.rows === undefined) return `${t.table} is missing`;
  if (t.expectedRows !== undefined && t.rows !== t.expectedRows) return `${t.table} has ${t.rows} rows, not ${t.expectedRows}`;
  if (t.expectedHash !== undefined && t.hash !== t.expectedHash) return `${t.table} holds other contents (hash ${t.hash}, the backup recorded ${t.expectedHash})`;
  return `${t.table} holds other pages (hash ${t.pagesHash ?? 'none'}, the backup recorded ${t.expectedPagesHash})`;
}
