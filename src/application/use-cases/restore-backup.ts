import { DbBackupError, isAbortError, isDbBackupError, isNoSpace, noSpaceError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { ConnectorRegistry } from '../ports/connector-registry.js';
import type { RestoreRequest } from '../ports/restore-plan.js';
import type { Logger } from '../ports/logger.js';
import type { ProgressReporter } from '../ports/progress.js';
import type { OpenedRepository, RepositoryOpener } from '../ports/repository-opener.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import { authenticateBackup } from '../services/manifest-auth.js';
import type { PartEncryption } from '../pipeline/part-encryption.js';
import { PartReader, verifyParts } from '../pipeline/part-reader.js';
import { chainView, restoreChain } from './restore-chain.js';
import { findChain, locateRepository } from './select-backup.js';
import type { RestoreBackupInput, RestoreBackupResult } from './restore-types.js';

export type { RestoreBackupInput, RestoreBackupResult, RestoreChainView, RestoreLink } from './restore-types.js';

export class RestoreBackup {
  constructor(
    private readonly deps: {
      connectors: ConnectorRegistry;
      opener: RepositoryOpener;
      codecs: CodecRegistry;
      catalog: BackupCatalog;
      logger: Logger;
      progress: ProgressReporter;
      cipher?: StreamCipher;
    },
  ) {}

  async execute(input: RestoreBackupInput, signal: AbortSignal): Promise<RestoreBackupResult> {
    // A driver's own error before the restore started (the server dropped the connection while the
    // plan looked at the target) is a failed restore of an untouched target, not an internal error;
    // errors of the restore itself are mapped where it runs.
    return this.run(input, signal).catch((err: unknown) => {
      throw this.wrap(err, signal, true);
    });
  }

  private async run(input: RestoreBackupInput, signal: AbortSignal): Promise<RestoreBackupResult> {
    // The connector's code loads while the backup is found.
    const loading = this.deps.connectors.get(input.target.engine);
    loading.catch(() => undefined);
    const location = await locateRepository(this.deps.catalog, input.repository, input.at === undefined ? input.backup : 'latest');
    const { repo, manifest, chain, plan } = await this.find([location, ...(input.fallbacks ?? [])], input, signal);
    const view = chainView(plan);
    const stopChecking = new AbortController();
    let checks: Promise<void> | undefined;
    try {
      if (manifest.engine !== input.target.engine) {
        throw new DbBackupError(
          'E_USAGE',
          `Backup ${manifest.id} is a ${manifest.engine} backup; it cannot be restored with --db ${input.target.engine}.`,
        );
      }
      if (chain.length > 1 || input.atLog || input.options?.changesOnly) return await restoreChain({ ...this.deps, wrap: (e, s, a) => this.wrap(e, s, a) }, repo.store, chain, view, input, loading, signal);
      // The data key is opened before anything is touched: a wrong key fails here, cleanly. The
      // stored bytes are then checked while the connector loads and the plan (and, where the
      // connector can, the restore's own preparation) looks at the target; nothing changes it
      // before the checks passed. A connector whose restore is atomic checks as it streams instead.
      // The manifest is authenticated here too: nothing it says is acted on before.
      const encryption = input.dryRun ? undefined : await authenticateBackup(repo.store, manifest, input.keys ?? [], this.deps.cipher, input.trust, this.deps.logger);
      if (!input.dryRun) {
        checks = this.verifyFirst(repo.store, manifest, AbortSignal.any([signal, stopChecking.signal]), encryption);
        checks.catch(() => undefined);
      }
      const connector = await loading;
      if (connector.capabilities.atomicRestore && checks) {
        // An atomic restore checks the data parts it streams; every other part (schema, page map…)
        // is checked whole before it starts, whether this restore reads it or not.
        stopChecking.abort();
        await checks.catch(() => undefined);
        checks = undefined;
        await this.verifyFirst(repo.store, { ...manifest, parts: manifest.parts.filter((p) => p.role !== 'data') }, signal, encryption, false);
      }
      const session = await connector.connect(input.target, 'restore');
      try {
        const request: RestoreRequest = { ...input.options, tables: input.tables, clean: input.clean };
        if (input.dryRun) return { manifest, plan: await session.planRestore(manifest, request), dryRun: true, chain: view };
        const log = this.deps.logger.child({ backupId: manifest.id, source: manifest.source });
        const plan = await session.planRestore(manifest, request);
        // Stored bytes are checked by sha256 as they stream; decoded ones by the codecs' own checksums.
        const reader = new PartReader(repo.store, manifest, this.deps.codecs, this.deps.progress, encryption, 'when-needed');
        if (checks && connector.capabilities.prepareDuringChecks) reader.checked = checks;
        else await checks;
        log.info('restore started', { target: plan.target });
        this.deps.progress.start(`restore ${manifest.id}`, manifest.parts.reduce((n, p) => n + p.rawSize, 0));
        const outcome = await session.restore(reader, request, signal).catch(async (err: unknown) => {
          // A restore that stopped before it changed anything because the checks failed says so.
          await checks;
          throw this.wrap(err, signal, connector.capabilities.atomicRestore);
        });
        this.deps.progress.stop();
        log.info('restore complete', { objects: outcome.objects.length, rows: outcome.rows });
        return { manifest, plan, dryRun: false, outcome, chain: view };
      } finally {
        this.deps.progress.stop();
        await session.close();
      }
    } finally {
      stopChecking.abort();
      await checks?.catch(() => undefined);
      await repo.close();
    }
  }

  /**
   * Opens the first repository that holds the backup (for `latest`: the one holding the newest).
   * Unreachable ones are skipped with a warning; when none works, the first one's error is thrown.
   */
  private async find(locations: string[], input: RestoreBackupInput, signal: AbortSignal): Promise<{ repo: OpenedRepository } & Awaited<ReturnType<typeof findChain>>> {
    let best: ({ repo: OpenedRepository } & Awaited<ReturnType<typeof findChain>>) | undefined;
    const newest = input.backup === 'latest' || input.at !== undefined;
    let firstError: unknown;
    for (const location of locations) {
      signal.throwIfAborted();
      let repo: OpenedRepository | undefined;
      try {
        repo = await this.deps.opener.open(location, 'read');
        const found = await findChain(repo.store, input.backup, input.source, input.at, input.now);
        const better = input.at === undefined ? found.manifest.id > (best?.manifest.id ?? '') : found.plan.point > (best?.plan.point ?? '');
        if (!best || (newest && better)) {
          await best?.repo.close();
          best = { repo, ...found };
        } else {
          await repo.close();
        }
        if (!newest) break;
      } catch (err) {
        await repo?.close().catch(() => undefined);
        if (locations.length === 1 || (isDbBackupError(err) && err.code === 'E_INTERRUPTED')) throw err;
        firstError ??= err;
        this.deps.logger.warn('cannot read the backup from this target; trying the next', { repository: location, error: String((err as Error)?.message ?? err) });
      }
    }
    if (!best) throw firstError;
    return best;
  }

  /** Checks the parts' stored bytes (`storedOnly`), or decodes them too (the small parts an atomic restore may not read). */
  private async verifyFirst(store: Parameters<typeof verifyParts>[0], manifest: Manifest, signal: AbortSignal, encryption?: PartEncryption, storedOnly = true): Promise<void> {
    const checks = await verifyParts(store, manifest, this.deps.codecs, undefined, signal, encryption, storedOnly);
    const bad = checks.find((c) => !c.ok);
    if (bad) {
      throw new DbBackupError(
        bad.code === 'E_TRUNCATED' || bad.code === 'E_DECRYPT' || bad.code === 'E_KEY' ? bad.code : 'E_CHECKSUM',
        `Backup ${manifest.id} is damaged (${bad.part}: ${bad.message}); nothing was restored.`,
      );
    }
  }

  private wrap(err: unknown, signal: AbortSignal, atomic: boolean): unknown {
    if (signal.aborted || isAbortError(err)) {
      return new DbBackupError(
        'E_INTERRUPTED',
        atomic
          ? 'The restore was interrupted; the target was left unchanged.'
          : 'The restore was interrupted part-way: the target holds a partial restore. Restore again with --clean.',
        { cause: err },
      );
    }
    if (isDbBackupError(err)) return err;
    if (isNoSpace(err)) return noSpaceError(err, 'the restore target', 'free space where the target is (and in TMPDIR) and restore again.');
    return new DbBackupError('E_RESTORE_FAILED', `The restore failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}
