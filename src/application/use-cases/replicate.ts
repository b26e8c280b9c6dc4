import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { newBackupId } from '../../domain/backup-id.js';
import { chainMemberOf, cheapestPaths, pathTo } from '../../domain/chain-graph.js';
import { DbBackupError, isAbortError, isDbBackupError } from '../../domain/errors.js';
import { encodeLogSegment, LOG_SEGMENT_PART } from '../../domain/log-segment.js';
import type { Manifest } from '../../domain/manifest.js';
import { isValidSourceName } from '../../domain/repository-layout.js';
import { DEFAULT_COMPACTION_LEVELS_MS } from '../../domain/segment-compaction.js';
import type { LogPosition } from '../ports/change-capture.js';
import type { ConnectionTarget } from '../ports/connection-target.js';
import type { ConnectorRegistry } from '../ports/connector-registry.js';
import type { ContinuousCapture, LogBatch } from '../ports/continuous-capture.js';
import type { DatabaseSession } from '../ports/database-session.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { ManifestSigner } from '../ports/manifest-signer.js';
import type { PendingSlots } from '../ports/pending-slots.js';
import type { HeldLock, RunLocks } from '../ports/run-locks.js';
import { dropLeftSlots, RunSlots } from '../services/left-capture-slots.js';
import { scanRepository } from '../services/backup-repository.js';
import { type BackupRun, BackupTargets, type BackupTargetsDeps } from './backup-targets.js';
import { type Generation, compactSegments } from './replicate-compaction.js';

export interface ReplicateInput {
  target: ConnectionTarget;
  /** Repository folders/URLs; every segment is listed in each only once complete in all. */
  repository: string | string[];
  source?: string;
  compression: { codec: string; level?: number };
  encryption?: KeyEncryptionKey;
  signing?: ManifestSigner;
  /** A segment is cut at least this often while changes wait (ms; default 1000). */
  intervalMs?: number;
  /** ...or as soon as this many bytes of changes wait (default 16 MiB). */
  segmentBytes?: number;
  /** How often the log is looked at (ms; default 50): the precision of the commit times `restore --at` sees. */
  pollMs?: number;
  /** Compaction level widths in ms (default 1 s, 30 s, 5 min, 1 h); empty or one level: no compaction. */
  compactionLevelsMs?: readonly number[];
  /** Told of every snapshot, segment, compaction and failure as it happens. */
  onEvent?: (event: ReplicateEvent) => void;
}

export type ReplicateEvent =
  | { type: 'generation'; generation: string; id: string; reason: string; at: string }
  | { type: 'resumed'; generation: string; from: string }
  | { type: 'segment'; id: string; commits: number; bytes: number; through: string; lagMs: number }
  | { type: 'compacted'; id: string; level: number; replaced: number }
  /** A capture slot a killed run of the source created and no listed snapshot names, dropped at start. */
  | { type: 'slot-dropped'; slot: string; pid: number }
  | { type: 'failed'; code: string; message: string };

export interface ReplicateResult {
  source: string;
  generation: string;
  segments: number;
  commits: number;
  snapshots: number;
  /** The newest instant shipped (the last segment's last commit, or the snapshot's time). */
  through: string;
}

/**
 * `locks`: one replicate per source and repository at a time (two would ship the same log twice, and race on checkpoints).
 * `pendingSlots`: capture slots recorded before they are created, so a killed run's is dropped by the next run (left-capture-slots.ts).
 */
export type ReplicateDeps = BackupTargetsDeps & { connectors: ConnectorRegistry; locks: RunLocks; pendingSlots?: PendingSlots };

/** What is needed to link the next segment. */
interface Shipped {
  id: string;
  to: LogPosition;
  /** ms: the instant the state shipped so far reaches. */
  at: number;
}

/**
 * `replicate`: follows a database's log and ships it as continuous segments (incrementals with
 * `continuous: true`) into every repository, each through the same part pipeline as a backup
 * (checksummed, compressed, encrypted) with its manifest written last, so a segment is listed only
 * once complete. It starts from the newest generation's last segment when the log still reaches
 * it, else with a full snapshot (a new generation), as when the repository holds nothing yet or
 * the source file was replaced. Nothing is stored while nothing changes, and the repository is
 * listed only at start: the state lives in memory. On abort (Ctrl-C, SIGTERM) what waits is
 * shipped, then it returns.
 */
export class Replicate {
  private readonly deps: ReplicateDeps;

  constructor(deps: ReplicateDeps) {
    // A segment a second would make a progress bar flicker: replicate reports events instead.
    this.deps = { ...deps, progress: { start() {}, advance() {}, expect() {}, stop() {} } };
  }

  async execute(input: ReplicateInput, signal: AbortSignal): Promise<ReplicateResult> {
    const connector = await this.deps.connectors.get(input.target.engine);
    const source = input.source ?? connector.defaultSourceName(input.target);
    if (!isValidSourceName(source)) throw new DbBackupError('E_USAGE', `Source name "${source}" is not valid: use letters, digits, '.', '_' and '-' (at most 100).`);
    const repositories = Array.isArray(input.repository) ? input.repository : [input.repository];
    if (repositories.length === 0) throw new DbBackupError('E_USAGE', 'No repository to replicate into; give --out or configure targets.');
    const opts = {
      intervalMs: input.intervalMs ?? 1000,
      segmentBytes: input.segmentBytes ?? 16 << 20,
      pollMs: input.pollMs ?? 50,
      levels: input.compactionLevelsMs ?? DEFAULT_COMPACTION_LEVELS_MS,
    };
    const result: ReplicateResult = { source, generation: '', segments: 0, commits: 0, snapshots: 0, through: '' };
    // Writes run under their own signal: an abort stops following, then what waits is still shipped.
    const writes = new AbortController();
    const job: Job = { input, source, repositories, session: undefined!, capture: undefined!, writes: writes.signal, result };
    const locks: HeldLock[] = [];
    try {
      // One lock per repository, in a fixed order; a repository is named as given, a folder by its absolute path.
      for (const repository of [...new Set(repositories.map(lockName))].sort()) {
        locks.push(await this.deps.locks.acquire(`replicate\0${source}\0${repository}`, `replicate of source "${source}" into ${describeRepository(repository)}`));
      }
      await this.open(job, connector, signal);
      let lastShip = Date.now();
      let lastCompaction = Date.now();
      let [retryAt, failures] = [0, 0];
      for (;;) {
        const stopping = signal.aborted;
        if (!stopping) await sleep(opts.pollMs, signal);
        let waiting: number;
        try {
          waiting = await job.capture.poll(opts.segmentBytes, writes.signal);
        } catch (err) {
          if (!isDbBackupError(err, 'E_CHAIN_BROKEN') || signal.aborted) throw err;
          // What was read of the old file still closes its generation, then a new one starts.
          for (let b = job.capture.take(job.shipped!.to, opts.segmentBytes); b; b = job.capture.take(job.shipped!.to, opts.segmentBytes)) {
            if (!(await this.ship(job, b))) break;
          }
          await this.reopen(job, connector, signal, err.message);
          continue;
        }
        const due = waiting >= opts.segmentBytes || (waiting > 0 && (signal.aborted || Date.now() - lastShip >= opts.intervalMs));
        if (due && Date.now() >= retryAt) {
          // The interval runs from one segment's start to the next: shipping time does not add to the lag.
          const started = Date.now();
          const batch = job.capture.take(job.shipped!.to, opts.segmentBytes)!;
          if (await this.ship(job, batch)) {
            lastShip = started;
            failures = 0;
          } else if (signal.aborted) {
            break;
          } else {
            // A target that failed is tried again later, not at every poll: 1 s, 2 s, 4 s … up to 1 min.
            retryAt = Date.now() + Math.min(60_000, 1000 * 2 ** failures++);
          }
          continue;
        }
        if (signal.aborted) break;
        if (opts.levels.length > 1 && Date.now() - lastCompaction >= opts.levels[1]!) {
          lastCompaction = Date.now();
          await this.compact(job, opts.levels);
        }
      }
      return result;
    } finally {
      await job.capture?.close().catch(() => undefined);
      // A snapshot that did not complete: its slot is dropped now when no repository names it, else at the next start.
      await job.slots?.settle(job.session, []).catch(() => undefined);
      await job.session?.close().catch(() => undefined);
      for (const l of locks) await l.release().catch(() => undefined);
    }
  }

  /** Connects, finds where the repository's newest generation ends, resumes there or snapshots. */
  private async open(job: Job, connector: Awaited<ReturnType<ConnectorRegistry['get']>>, signal: AbortSignal, forceNew?: string): Promise<void> {
    job.session = await connector.connect(job.input.target, 'backup');
    if (!job.session.continuous) {
      throw new DbBackupError('E_UNSUPPORTED', `${connector.engine} databases cannot be replicated continuously yet; schedule incremental backups instead.`);
    }
    job.capture = job.session.continuous;
    for (const d of await dropLeftSlots(this.deps, job.session, job.source, job.repositories)) job.input.onEvent?.({ type: 'slot-dropped', ...d });
    const found = forceNew ? undefined : await this.newestGeneration(job);
    const last = found?.chain.at(-1);
    const started = await job.capture.start(last ? (last.position?.to as LogPosition) : undefined, found?.identity, signal);
    if (found && last && started.resumable) {
      job.generation = found;
      job.shipped = { id: last.id, to: last.position!.to as LogPosition, at: Date.parse(last.restorable?.to ?? last.consistentAt) };
      job.result.generation = found.name;
      job.result.through = new Date(job.shipped.at).toISOString();
      job.input.onEvent?.({ type: 'resumed', generation: found.name, from: last.id });
      return;
    }
    const reason = forceNew ?? (found ? started.reason ?? 'the log no longer reaches the last segment shipped (the file was replaced, or checkpointed while replicate was not running)' : 'the repository holds no replicated generation of this source');
    await this.snapshot(job, signal, reason, started.identity);
  }

  private async reopen(job: Job, connector: Awaited<ReturnType<ConnectorRegistry['get']>>, signal: AbortSignal, reason: string): Promise<void> {
    await job.capture.close().catch(() => undefined);
    await job.session.close().catch(() => undefined);
    await this.open(job, connector, signal, reason);
  }

  /** A full snapshot that starts a new generation. */
  private async snapshot(job: Job, signal: AbortSignal, reason: string, identity: string): Promise<void> {
    const name = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
    let at: LogPosition = {};
    const slots = (job.slots = new RunSlots(this.deps, job.source, job.repositories));
    const run: BackupRun = this.newRun(job, 'full', signal, async (sink, s) => {
      const snap = await job.capture.snapshot(sink, s, { beforeSlot: slots.beforeSlot });
      at = snap.at;
      const t = snap.consistentAt.toISOString();
      // The generation's start: the position segments link to, and the single instant it restores to.
      run.fields = { generation: name, position: { from: null, to: at }, restorable: { from: t, to: t } };
      return snap;
    });
    const manifest = await this.write(job, run);
    if (!manifest) throw job.lastError ?? new DbBackupError('E_BACKUP_FAILED', 'The snapshot that starts a generation reached no target.');
    // Listed in every target: the generation's slot is named, its record no longer needed.
    await slots.settle(job.session, [manifest]).catch((err: unknown) => this.deps.logger.warn('could not settle the snapshot\'s capture slot record; the next start checks it', { error: String((err as Error)?.message ?? err) }));
    job.generation = { name, identity, full: manifest, chain: [manifest] };
    job.shipped = { id: manifest.id, to: at, at: Date.parse(manifest.consistentAt) };
    job.result.generation = name;
    job.result.snapshots++;
    job.result.through = manifest.consistentAt;
    job.input.onEvent?.({ type: 'generation', generation: name, id: manifest.id, reason, at: manifest.consistentAt });
  }

  /** Ships one batch as a segment; true once it is listed in every target (then the log may be freed up to it). */
  private async ship(job: Job, batch: LogBatch): Promise<boolean> {
    const last = batch.commits.at(-1)!.time;
    const from = job.shipped!.at;
    const to = Math.max(last, from);
    const run = this.newRun(job, 'incremental', job.writes, async (sink) => {
      await sink.write({ name: LOG_SEGMENT_PART, role: 'changes' }, Readable.from(encodeLogSegment(batch.commits)));
      return {
        serverVersion: '',
        consistentAt: new Date(to),
        logPosition: batch.to,
        // The objects as of the generation's snapshot (names and types; a segment does not count rows).
        objects: job.generation!.full.objects.map((o) => ({ name: o.name, type: o.type })),
        warnings: [],
        engineInfo: { identity: job.generation!.identity, commits: batch.commits.length, changes: batch.commits.length, level: 0 },
      };
    });
    run.fields = {
      parent: job.shipped!.id,
      baseFull: job.generation!.full.id,
      position: { from: batch.from, to: batch.to },
      restorable: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
      continuous: true,
      generation: job.generation!.name,
    };
    const manifest = await this.write(job, run);
    if (!manifest) return false;
    job.shipped = { id: manifest.id, to: batch.to, at: to };
    job.generation!.chain.push(manifest);
    await job.capture.release(batch.to);
    job.result.segments++;
    job.result.commits += batch.commits.length;
    job.result.through = new Date(to).toISOString();
    job.input.onEvent?.({ type: 'segment', id: manifest.id, commits: batch.commits.length, bytes: batch.bytes, through: job.result.through, lagMs: Date.now() - batch.commits[0]!.time });
    return true;
  }

  private async compact(job: Job, levels: readonly number[]): Promise<void> {
    try {
      await compactSegments(this.deps, {
        generation: job.generation,
        repositories: job.repositories,
        shipped: job.shipped,
        input: job.input,
        levels,
        writes: job.writes,
        write: (run) => this.write(job, run),
        newRun: (produce) => this.newRun(job, 'incremental', job.writes, produce),
        onCompacted: (id, level, replaced) => job.input.onEvent?.({ type: 'compacted', id, level, replaced }),
      });
    } catch (err) {
      const e = isDbBackupError(err) ? err : new DbBackupError('E_BACKUP_FAILED', `Compaction failed: ${(err as Error).message}`, { cause: err });
      this.deps.logger.warn('segment compaction failed; the segments stay as they are', { code: e.code, error: e.message });
      job.input.onEvent?.({ type: 'failed', code: e.code, message: `compaction: ${e.message}` });
    }
  }

  /** Writes a run into every target; its manifest when complete in all, else undefined (reported, and left for a retry). */
  private async write(job: Job, run: BackupRun): Promise<Manifest | undefined> {
    const wrap = (err: unknown) =>
      isDbBackupError(err)
        ? err
        : isAbortError(err) || run.signal.aborted
          ? new DbBackupError('E_INTERRUPTED', 'Replication was interrupted; the segment being written was removed.', { cause: err })
          : new DbBackupError('E_BACKUP_FAILED', `Replication failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    const outcome = await new BackupTargets(this.deps, wrap).write(job.session, run);
    const failed = outcome.targets.filter((t) => !t.ok);
    if (!outcome.failure && failed.length === 0) return outcome.targets[0]!.manifest;
    const error = outcome.failure ?? failed[0]!.error!;
    job.lastError = error;
    if (error.code === 'E_INTERRUPTED' && run.request.kind === 'full') throw error;
    this.deps.logger.warn('a segment did not reach every target; it is shipped again', { code: error.code, error: error.message });
    job.input.onEvent?.({ type: 'failed', code: error.code, message: error.message });
    return undefined;
  }

  private newRun(job: Job, kind: 'full' | 'incremental', signal: AbortSignal, produce: NonNullable<BackupRun['produce']>): BackupRun {
    const started = this.deps.clock.now();
    return {
      source: job.source,
      id: newBackupId(started, kind),
      engine: job.input.target.engine,
      request: { kind, parallel: 1, source: job.source },
      compression: job.input.compression,
      encryption: job.input.encryption,
      dataKey: job.input.encryption ? randomBytes(32) : undefined,
      signing: job.input.signing,
      fanout: 'concurrent',
      repositories: job.repositories,
      startedAt: started,
      signal,
      produce,
      checkedTargets: this.checkedTargets(job),
    };
  }

  /** The targets' checked markers and wrapped data key, shared by the runs of one hour (then a fresh data key). */
  private checkedTargets(job: Job): NonNullable<BackupRun['checkedTargets']> {
    const now = Date.now();
    if (!job.checked || now - job.checked.since >= DATA_KEY_LIFETIME_MS) job.checked = { since: now, targets: new Map() };
    return job.checked.targets;
  }

  /** The newest generation of the source in the first repository, as the chain to its newest point (listed once, at start). */
  private async newestGeneration(job: Job): Promise<Generation | undefined> {
    const repo = await this.deps.opener.open(job.repositories[0]!, 'read').catch(() => undefined);
    if (!repo) return undefined;
    try {
      const manifests = await scanRepository(repo.store, { source: job.source })
        .then((r) => r.manifests)
        .catch(() => [] as Manifest[]);
      const ours = manifests.filter((m) => m.generation !== undefined && m.engine === job.input.target.engine);
      const newestFull = ours.filter((m) => m.kind === 'full').sort((a, b) => Date.parse(a.consistentAt) - Date.parse(b.consistentAt)).at(-1);
      if (!newestFull) return undefined;
      const members = ours.filter((m) => m.generation === newestFull.generation).map(chainMemberOf);
      const paths = cheapestPaths(members);
      const reachable = members.filter((m) => paths.has(m.id));
      // The newest point; on equal times the link further down its chain (a segment whose last commit
      // falls in the same millisecond as its full's snapshot still follows it).
      const reach = (m: (typeof reachable)[number]): [number, number] => [Date.parse(m.restorable?.to ?? m.consistentAt), paths.get(m.id)?.links ?? 0];
      const end = reachable.reduce((a, b) => {
        const [tb, lb] = reach(b);
        const [ta, la] = reach(a);
        return tb > ta || (tb === ta && lb > la) ? b : a;
      });
      const chain = pathTo(paths, end).map((m) => m.manifest);
      const identity = String(chain.at(-1)!.engineInfo.identity ?? '');
      return { name: newestFull.generation!, identity, full: chain[0]!, chain };
    } finally {
      await repo.close().catch(() => undefined);
    }
  }
}

/** One replicate run's state. */
export interface Job {
  input: ReplicateInput;
  source: string;
  repositories: string[];
  session: DatabaseSession;
  capture: ContinuousCapture;
  writes: AbortSignal;
  result: ReplicateResult;
  generation?: Generation;
  shipped?: Shipped;
  lastError?: DbBackupError;
  /** The slots the current generation's snapshot recorded (settled once it is listed). */
  slots?: RunSlots;
  checked?: { since: number; targets: NonNullable<BackupRun['checkedTargets']> };
}

/** Segments share a data key (wrapped once: a passphrase is stretched once) for at most this long. */
const DATA_KEY_LIFETIME_MS = 3_600_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** A repository as a lock name: a URL as given, a folder by its absolute path. */
function lockName(repository: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(repository) ? repository : resolve(repository);
}

/** A repository for a message: a URL without its user info or query (they may hold credentials). */
function describeRepository(repository: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(repository)) return repository;
  try {
    const u = new URL(repository);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'its repository';
  }
}
