import { DbBackupError } from '../../domain/errors.js';
import type { Manifest } from '../../domain/manifest.js';
import type { ChainRestorePlan } from '../../domain/restore-plan-chain.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { ChangeLimit } from '../ports/change-capture.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { DatabaseConnector } from '../ports/database-connector.js';
import type { DatabaseSession } from '../ports/database-session.js';
import type { RestoreOutcome, RestorePlan, RestoreRequest } from '../ports/restore-plan.js';
import type { Logger } from '../ports/logger.js';
import type { ProgressReporter } from '../ports/progress.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import { PartReader, verifyParts } from '../pipeline/part-reader.js';
import { authenticateBackup } from '../services/manifest-auth.js';
import type { RestoreBackupInput, RestoreBackupResult, RestoreChainView } from './restore-types.js';
import type { PlannedMember } from './select-backup.js';

export function chainView(plan: ChainRestorePlan<PlannedMember>): RestoreChainView {
  return {
    links: plan.links.map((l) => {
      const m = l.manifest;
      const changes = m.engineInfo.changes;
      return {
        id: m.id,
        kind: m.kind,
        parent: m.parent,
        from: m.restorable?.from ?? m.consistentAt,
        to: m.restorable?.to ?? m.consistentAt,
        storedBytes: l.storedBytes,
        ...(typeof changes === 'number' ? { changes } : {}),
      };
    }),
    point: plan.point,
    stopAt: plan.stopAt,
    storedBytes: plan.storedBytes,
    windows: plan.windows,
  };
}

export interface ChainRestoreDeps {
  codecs: CodecRegistry;
  logger: Logger;
  progress: ProgressReporter;
  cipher?: StreamCipher;
  /** The use-case's error mapping (interrupts, failures). */
  wrap(err: unknown, signal: AbortSignal, atomic: boolean): unknown;
}

/**
 * Restores a chain (a full and the links after it, oldest first). Every link's stored bytes are
 * checked before the target is touched, so a damaged or missing link fails naming it (exit 4).
 * The engine restores the whole chain at once when it can (ChangeCapture.restoreChain, the target
 * changes once), otherwise the full is restored and each link applied on it. With `changesOnly`
 * (`restore --changes-only`) the full is not restored: each link is applied onto the target as it
 * is, the engine skipping what the target already holds (a dry run reads the links to count).
 */
export async function restoreChain(
  deps: ChainRestoreDeps,
  store: BlobStore,
  chain: Manifest[],
  view: RestoreChainView,
  input: RestoreBackupInput,
  loading: Promise<DatabaseConnector>,
  signal: AbortSignal,
): Promise<RestoreBackupResult> {
  const connector = await loading;
  let until: ChangeLimit | undefined = view.stopAt ? { time: new Date(view.stopAt) } : undefined;
  if (input.atLog) {
    if (!connector.locateLogPosition) {
      throw new DbBackupError('E_UNSUPPORTED', `${connector.engine} restores cannot stop at a log position (--at-gtid, --at-position); use --at TIME.`);
    }
    const reach = connector.locateLogPosition(chain, input.atLog);
    chain = chain.slice(0, reach + 1);
    view = { ...view, links: view.links.slice(0, reach + 1) };
    until = reach > 0 ? { position: input.atLog } : undefined;
  }
  const target = chain.at(-1)!;
  if (input.options?.changesOnly) checkChangesOnly(connector, chain, input);
  const session = await connector.connect(input.target, 'restore');
  try {
    const request: RestoreRequest = { ...input.options, tables: input.tables, clean: input.clean };
    const plan = await session.planRestore(target, request);
    if (request.changesOnly) return await changesOnly(deps, store, chain, view, input, { session, plan, request, until }, signal);
    if (input.dryRun) return { manifest: target, plan, dryRun: true, chain: view };
    const changes = session.changes;
    if (!changes) {
      throw new DbBackupError('E_UNSUPPORTED', `Backup ${target.id} is ${target.kind}; ${connector.engine} restores here cannot apply changes.`);
    }
    const readers: PartReader[] = [];
    for (const m of chain) {
      // Every link is authenticated before anything it says is acted on.
      const encryption = await authenticateBackup(store, m, input.keys ?? [], deps.cipher, input.trust, deps.logger);
      readers.push(new PartReader(store, m, deps.codecs, deps.progress, encryption, 'when-needed'));
    }
    await checkLinks(deps, store, chain, target, signal);
    const log = deps.logger.child({ backupId: target.id, source: target.source });
    log.info('restore started', { target: plan.target, links: chain.map((m) => m.id), point: view.point });
    deps.progress.start(`restore ${target.id}`, chain.reduce((n, m) => n + m.parts.reduce((k, p) => k + p.rawSize, 0), 0));
    const atomic = connector.capabilities.atomicRestore && changes.restoreChain !== undefined;
    let outcome: RestoreOutcome;
    try {
      if (changes.restoreChain) {
        outcome = await changes.restoreChain(readers, request, until, signal);
      } else {
        if (request.tables && !connector.capabilities.changes?.selective) {
          throw new DbBackupError('E_UNSUPPORTED', `${connector.engine} cannot restore chosen tables from a chain; restore it whole into a new database.`);
        }
        outcome = await session.restore(readers[0]!, request, signal);
        for (const [i, reader] of readers.entries()) {
          if (i > 0) outcome = await changes.applyChanges(reader, i === readers.length - 1 ? until : undefined, signal);
        }
      }
    } catch (err) {
      throw deps.wrap(err, signal, atomic);
    }
    deps.progress.stop();
    log.info('restore complete', { objects: outcome.objects.length, rows: outcome.rows, point: view.point });
    return { manifest: target, plan, dryRun: false, outcome, chain: view };
  } finally {
    deps.progress.stop();
    await session.close();
  }
}

function checkChangesOnly(connector: DatabaseConnector, chain: Manifest[], input: RestoreBackupInput): void {
  const target = chain.at(-1)!;
  if (!connector.capabilities.changes?.skipsApplied) {
    throw new DbBackupError('E_UNSUPPORTED', `--changes-only: ${connector.engine} cannot tell which changes a target already holds; restore the chain whole.`);
  }
  if (input.clean) throw new DbBackupError('E_USAGE', '--changes-only applies changes onto the target as it is; --clean (which replaces it) does not go with it.');
  if (chain.length < 2) {
    throw new DbBackupError('E_USAGE', `--changes-only replays a chain's changes; backup ${target.id} is a ${target.kind} with none to replay (restore it without --changes-only, or name a later link).`);
  }
}

/**
 * `restore --changes-only`: every link after the full, applied onto the target as it is (the full
 * is neither read nor restored); the engine counts what it applies and skips. A dry run reads each
 * link's index to count and changes nothing.
 */
async function changesOnly(
  deps: ChainRestoreDeps,
  store: BlobStore,
  chain: Manifest[],
  view: RestoreChainView,
  input: RestoreBackupInput,
  run: { session: DatabaseSession; plan: RestorePlan; request: RestoreRequest; until: ChangeLimit | undefined },
  signal: AbortSignal,
): Promise<RestoreBackupResult> {
  const target = chain.at(-1)!;
  const links = chain.slice(1);
  const plan: RestorePlan = { ...run.plan, effect: 'merge', items: [] };
  const readers: PartReader[] = [];
  for (const m of links) {
    const encryption = await authenticateBackup(store, m, input.keys ?? [], deps.cipher, input.trust, deps.logger);
    readers.push(new PartReader(store, m, deps.codecs, deps.progress, encryption, 'when-needed'));
  }
  if (!input.dryRun) await checkLinks(deps, store, links, target, signal);
  const log = deps.logger.child({ backupId: target.id, source: target.source });
  if (!input.dryRun) log.info('changes-only restore started', { target: plan.target, links: links.map((m) => m.id), point: view.point });
  const objects = new Set<string>();
  const warnings: string[] = [];
  const transactions = { applied: 0, skipped: 0 };
  let logPosition: string | undefined;
  try {
    for (const [i, reader] of readers.entries()) {
      const out = await run.session.changes!.applyChanges(reader, i === readers.length - 1 ? run.until : undefined, signal, { request: run.request, dryRun: input.dryRun });
      for (const o of out.objects) objects.add(o);
      for (const w of out.warnings ?? []) if (!warnings.includes(w)) warnings.push(w);
      transactions.applied += out.transactions?.applied ?? 0;
      transactions.skipped += out.transactions?.skipped ?? 0;
      logPosition = out.logPosition ?? logPosition;
    }
  } catch (err) {
    throw deps.wrap(err, signal, false);
  }
  const outcome: RestoreOutcome = { objects: [...objects].sort(), rows: 0, warnings, transactions, ...(logPosition ? { logPosition } : {}) };
  if (input.dryRun) return { manifest: target, plan: { ...plan, warnings: [...plan.warnings, ...warnings] }, dryRun: true, chain: view, outcome };
  log.info('changes-only restore complete', { ...transactions, point: view.point });
  return { manifest: target, plan, dryRun: false, outcome, chain: view };
}

/** Links checked at once: a chain of many small log segments waits on latency, not bandwidth. */
const CHECK_PARALLEL = 4;

/** Checks the stored bytes of every link (CHECK_PARALLEL at a time); E_CHECKSUM / E_TRUNCATED naming the first damaged one in chain order. */
async function checkLinks(deps: ChainRestoreDeps, store: BlobStore, chain: Manifest[], target: Manifest, signal: AbortSignal): Promise<void> {
  const results: Promise<Awaited<ReturnType<typeof verifyParts>>>[] = [];
  const check = (i: number) => {
    if (i < chain.length && results[i] === undefined) {
      results[i] = verifyParts(store, chain[i]!, deps.codecs, undefined, signal, undefined, true);
      results[i]!.catch(() => undefined);
    }
  };
  for (const [i, m] of chain.entries()) {
    for (let k = i; k < i + CHECK_PARALLEL; k++) check(k);
    const bad = (await results[i]!).find((c) => !c.ok);
    if (bad) {
      const which = m.id === target.id ? `Backup ${m.id}` : `Backup ${m.id} (${m.kind}, a link the chain of ${target.id} needs)`;
      throw new DbBackupError(bad.code === 'E_TRUNCATED' ? 'E_TRUNCATED' : 'E_CHECKSUM', `${which} is damaged (${bad.part}: ${bad.message}); nothing was restored.`, {
        details: { backup: target.id, link: m.id, part: bad.part },
      });
    }
  }
}
