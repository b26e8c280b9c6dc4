import { DbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import { backupPrefix } from '../../domain/repository-layout.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import { readJson, readManifest } from '../services/backup-repository.js';
import { PIN_NAME, type PinFile } from './pin-backup.js';

export interface ShowManifestResult {
  repository: string;
  manifest: Manifest;
  /** The backup's pin (pinned.json beside its manifest), when it has one. */
  pin?: PinFile;
}

/**
 * A backup's manifest as its repository holds it (objects, parts, checksums, targets), read from a
 * repository the catalog records the backup in: a front end never opens a place the catalog does
 * not know. The manifest is parsed (bounded, validated) like every manifest read back.
 */
export class ShowManifest {
  constructor(private readonly deps: { opener: RepositoryOpener; catalog: BackupCatalog }) {}

  async execute(input: { id: string; repository?: string }): Promise<ShowManifestResult> {
    const known = (await this.deps.catalog.list()).filter((b) => b.id === input.id && (input.repository === undefined || b.repository === input.repository));
    const entry = known[0];
    if (!entry) throw new DbBackupError('E_BACKUP_NOT_FOUND', `The catalog knows no backup ${input.id}${input.repository ? ` in ${input.repository}` : ''}; run \`dbbackup list --refresh\`.`);
    const repo = await this.deps.opener.open(entry.repository, 'read');
    try {
      const manifest = await readManifest(repo.store, entry.source, entry.id);
      const pinKey = `${backupPrefix(entry.source, entry.id)}${PIN_NAME}`;
      const pin = (await repo.store.stat(pinKey)) ? pinFile(await readJson(repo.store, pinKey)) : undefined;
      return { repository: entry.repository, manifest, ...(pin ? { pin } : {}) };
    } finally {
      await repo.close();
    }
  }
}

/** Only the two fields a pin has, as strings: what the repository holds is untrusted. */
function pinFile(value: unknown): PinFile {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  return { pinnedAt: typeof v.pinnedAt === 'string' ? v.pinnedAt.slice(0, 64) : '', ...(typeof v.note === 'string' ? { note: v.note.slice(0, 1000) } : {}) };
}
