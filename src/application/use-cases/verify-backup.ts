import { DbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { ProgressReporter } from '../ports/progress.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import { type PartCheck, verifyParts } from '../pipeline/part-reader.js';
import type { Logger } from '../ports/logger.js';
import { type ManifestTrust, authenticateBackup } from '../services/manifest-auth.js';
import { findChain, locateRepository } from './select-backup.js';

export interface VerifyBackupInput {
  /** Repository folder/URL or archive file; when omitted, the catalog says where `backup` is. */
  repository?: string;
  /** 'latest', an id or a unique id prefix. */
  backup: string;
  source?: string;
  /** Keys that may open encrypted backups. */
  keys?: KeyEncryptionKey[];
  /** What every backup of the chain must prove (services/manifest-auth.ts). */
  trust?: ManifestTrust;
}

export interface VerifyBackupResult {
  repository: string;
  manifest: Manifest;
  chain: string[];
  checks: PartCheck[];
}

/** Reads every part of a backup (and of the backups its chain needs) and checks every checksum. */
export class VerifyBackup {
  constructor(
    private readonly deps: {
      opener: RepositoryOpener;
      codecs: CodecRegistry;
      catalog: BackupCatalog;
      progress: ProgressReporter;
      cipher?: StreamCipher;
      logger?: Logger;
    },
  ) {}

  async execute(input: VerifyBackupInput, signal: AbortSignal): Promise<VerifyBackupResult> {
    const location = await locateRepository(this.deps.catalog, input.repository, input.backup);
    const repo = await this.deps.opener.open(location, 'read');
    try {
      // Every link the backup's restore needs (its cheapest chain), each checked whole.
      const { manifest, chain } = await findChain(repo.store, input.backup, input.source, undefined);
      const total = chain.reduce((n, m) => n + m.parts.reduce((k, p) => k + p.rawSize, 0), 0);
      this.deps.progress.start(`verify ${manifest.id}`, total);
      const checks: PartCheck[] = [];
      for (const m of chain) {
        const encryption = await authenticateBackup(repo.store, m, input.keys ?? [], this.deps.cipher, input.trust, this.deps.logger);
        checks.push(...(await verifyParts(repo.store, m, this.deps.codecs, this.deps.progress, signal, encryption)));
      }
      this.deps.progress.stop();
      const failed = checks.filter((c) => !c.ok);
      if (failed.length > 0) {
        const first = failed[0]!;
        throw new DbBackupError(
          first.code === 'E_TRUNCATED' ? 'E_TRUNCATED' : 'E_CHECKSUM',
          `Backup ${manifest.id} is damaged: ${failed.length} of ${checks.length} parts failed verification ` +
            `(first: ${first.backup === manifest.id ? '' : `backup ${first.backup}, a link its chain needs: `}${first.part}: ${first.message ?? first.code}). Restore an older backup, and check the storage.`,
          { details: { failed } },
        );
      }
      return { repository: repo.store.location, manifest, chain: chain.map((m) => m.id), checks };
    } finally {
      this.deps.progress.stop();
      await repo.close();
    }
  }
}
