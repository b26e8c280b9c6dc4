import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DbBackupError, isDbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import { partKey } from '../../domain/repository-layout.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { ProgressReporter } from '../ports/progress.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import { openBackupKey } from '../services/backup-encryption.js';
import { type PartEncryption, PartReader } from '../services/part-pipeline.js';
import { VerifyingStage, digestMismatch } from '../services/stream-stages.js';
import { findBackup, locateRepository } from './select-backup.js';

export interface VerifyBackupInput {
  /** Repository folder/URL or archive file; when omitted, the catalog says where `backup` is. */
  repository?: string;
  /** 'latest', an id or a unique id prefix. */
  backup: string;
  source?: string;
  /** Keys that may open encrypted backups. */
  keys?: KeyEncryptionKey[];
}

export interface PartCheck {
  backup: string;
  part: string;
  ok: boolean;
  code?: string;
  message?: string;
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
    },
  ) {}

  async execute(input: VerifyBackupInput, signal: AbortSignal): Promise<VerifyBackupResult> {
    const location = await locateRepository(this.deps.catalog, input.repository, input.backup);
    const repo = await this.deps.opener.open(location, 'read');
    try {
      const { manifest, chain } = await findBackup(repo.store, input.backup, input.source);
      const total = chain.reduce((n, m) => n + m.parts.reduce((k, p) => k + p.rawSize, 0), 0);
      this.deps.progress.start(`verify ${manifest.id}`, total);
      const checks: PartCheck[] = [];
      for (const m of chain) {
        const encryption = this.deps.cipher ? await openBackupKey(m, input.keys ?? [], this.deps.cipher) : undefined;
        checks.push(...(await verifyParts(repo.store, m, this.deps.codecs, this.deps.progress, signal, encryption)));
      }
      this.deps.progress.stop();
      const failed = checks.filter((c) => !c.ok);
      if (failed.length > 0) {
        const first = failed[0]!;
        throw new DbBackupError(
          first.code === 'E_TRUNCATED' ? 'E_TRUNCATED' : 'E_CHECKSUM',
          `Backup ${manifest.id} is damaged: ${failed.length} of ${checks.length} parts failed verification ` +
            `(first: ${first.part}: ${first.message ?? first.code}). Restore an older backup, and check the storage.`,
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

/**
 * Streams each part of `manifest` through the verifying pipeline; never throws for a bad part.
 * `storedOnly` checks the stored bytes' size and sha256 without decoding (a restore's pre-pass:
 * the decoded bytes are checked again as they stream into the database).
 */
export async function verifyParts(
  store: BlobStore,
  manifest: Manifest,
  codecs: CodecRegistry,
  progress: ProgressReporter | undefined,
  signal: AbortSignal,
  encryption?: PartEncryption,
  storedOnly = false,
): Promise<PartCheck[]> {
  const reader = new PartReader(store, manifest, codecs, progress, encryption);
  const checks: PartCheck[] = new Array(manifest.parts.length);
  // A few parts at a time: one part's reads overlap another's hashing (and a remote store's latency).
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < manifest.parts.length; i = next++) checks[i] = await checkPart(manifest.parts[i]!);
  };
  const checkPart = async (part: Manifest['parts'][number]): Promise<PartCheck> => {
    signal.throwIfAborted();
    try {
      const key = partKey(manifest.source, manifest.id, part.name);
      const what = `Part ${part.name} of backup ${manifest.id}`;
      const missing = () => new DbBackupError('E_TRUNCATED', `part ${part.name} is missing from the repository`);
      if (storedOnly && store.digest) {
        // The store hashes the object where it is cheapest (the local one: on worker threads).
        const digest = await store.digest(key, signal);
        if (!digest) throw missing();
        const bad = digestMismatch(what, { size: part.storedSize, sha256: part.sha256 }, digest);
        if (bad) throw bad;
      } else {
        if (!(await store.stat(key))) throw missing();
        const sink = new Writable({ highWaterMark: 1 << 20, write: (_c, _e, cb) => cb() });
        const bytes = storedOnly ? [await store.get(key, undefined, signal), new VerifyingStage(part.sha256, part.storedSize, what)] : [await reader.open(part, signal)];
        await pipeline([...bytes, sink], { signal });
      }
      return { backup: manifest.id, part: part.name, ok: true };
    } catch (err) {
      if (signal.aborted) throw err;
      const e = isDbBackupError(err) ? err : new DbBackupError('E_CHECKSUM', (err as Error).message, { cause: err });
      return { backup: manifest.id, part: part.name, ok: false, code: e.code, message: e.message };
    }
  };
  await Promise.all(Array.from({ length: Math.min(VERIFY_CONCURRENCY, manifest.parts.length) }, worker));
  return checks;
}

/** Parts checked at once by verifyParts. */
const VERIFY_CONCURRENCY = 3;
