import { Readable } from 'node:stream';
import { DbBackupError } from '../../domain/errors.js';
import { LOG_SEGMENT_PART, logCommitRecord, logSegmentHeader, logSegmentTrailer, readLogSegment } from '../../domain/log-segment.js';
import type { Manifest } from '../../domain/manifest.js';
import { MANIFEST_NAME, partKey } from '../../domain/repository-layout.js';
import { planCompaction } from '../../domain/segment-compaction.js';
import type { BackupCatalog } from '../ports/backup-catalog.js';
import type { CodecRegistry } from '../ports/codec.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { Logger } from '../ports/logger.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import type { StreamCipher } from '../ports/stream-cipher.js';
import { PartReader } from '../pipeline/part-reader.js';
import { authenticateBackup } from '../services/manifest-auth.js';
import type { BackupRun } from './backup-targets.js';

/** A replicated generation: its snapshot and the chain of segments after it, in order (kept in memory). */
export interface Generation {
  name: string;
  /** The source file's identity when the generation was shipped (see FollowStart.identity). */
  identity: string;
  full: Manifest;
  /** The full, then each segment in chain order. */
  chain: Manifest[];
}

export interface CompactionJob {
  generation?: Generation;
  repositories: string[];
  shipped?: { id: string };
  input: { encryption?: KeyEncryptionKey };
  levels: readonly number[];
  newRun(produce: NonNullable<BackupRun['produce']>): BackupRun;
  /** Writes a run into every target; its manifest when complete in all. */
  write(run: BackupRun): Promise<Manifest | undefined>;
  writes: AbortSignal;
  onCompacted?(id: string, level: number, replaced: number): void;
}

/**
 * Compacts the generation's segments as planCompaction says: each group's commits, read back from
 * the first target, become one segment written to every target (its manifest last), and only
 * then are the group's segments deleted, each manifest first. A crash in between leaves both,
 * which restores the same (the chain links segments by position, not only by parent id).
 */
export async function compactSegments(
  deps: { opener: RepositoryOpener; codecs: CodecRegistry; catalog: BackupCatalog; cipher?: StreamCipher; logger: Logger },
  job: CompactionJob,
): Promise<void> {
  const generation = job.generation;
  if (!generation) return;
  const segments = generation.chain.slice(1);
  const groups = planCompaction(
    segments.map((m) => ({ id: m.id, level: Number(m.engineInfo.level ?? 0), to: Date.parse(m.restorable?.to ?? m.consistentAt) })),
    Date.now(),
    job.levels,
  );
  for (const group of groups) {
    const members = group.ids.map((id) => segments.find((m) => m.id === id)!);
    const compacted = await compactGroup(deps, job, generation, members, group.level);
    if (!compacted) return;
    const at = generation.chain.indexOf(members[0]!);
    generation.chain.splice(at, members.length, compacted);
    if (job.shipped && group.ids.includes(job.shipped.id)) job.shipped.id = compacted.id;
    for (const url of job.repositories) await deleteSegments(deps, url, members);
    job.onCompacted?.(compacted.id, group.level, members.length);
  }
}

async function compactGroup(
  deps: { opener: RepositoryOpener; codecs: CodecRegistry; catalog: BackupCatalog; cipher?: StreamCipher; logger: Logger },
  job: CompactionJob,
  generation: Generation,
  members: Manifest[],
  level: number,
): Promise<Manifest | undefined> {
  const [first, last] = [members[0]!, members.at(-1)!];
  const repo = await deps.opener.open(job.repositories[0]!, 'read');
  try {
    let commits = 0;
    const run = job.newRun(async (sink, signal) => {
      const readers: PartReader[] = [];
      for (const m of members) {
        const encryption = await authenticateBackup(repo.store, m, job.input.encryption ? [job.input.encryption] : [], deps.cipher, {}, deps.logger);
        readers.push(new PartReader(repo.store, m, deps.codecs, undefined, encryption));
      }
      async function* concatenated(): AsyncGenerator<Buffer> {
        yield logSegmentHeader();
        for (const r of readers) {
          const part = r.manifest.parts.find((p) => p.name.startsWith(LOG_SEGMENT_PART));
          if (!part) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Segment ${r.manifest.id} has no ${LOG_SEGMENT_PART} part.`);
          for await (const c of readLogSegment(await r.open(part, signal), `Part ${part.name} of backup ${r.manifest.id}`)) {
            commits++;
            yield* logCommitRecord(c);
          }
        }
        yield logSegmentTrailer(commits);
      }
      await sink.write({ name: LOG_SEGMENT_PART, role: 'changes' }, Readable.from(concatenated()));
      return {
        serverVersion: last.serverVersion,
        consistentAt: new Date(last.consistentAt),
        logPosition: last.logPosition,
        objects: last.objects,
        warnings: [],
        engineInfo: { identity: generation.identity, commits, changes: commits, level, compactedFrom: members.length },
      };
    });
    run.fields = {
      parent: first.parent,
      baseFull: first.baseFull,
      position: { from: first.position!.from, to: last.position!.to },
      restorable: { from: first.restorable!.from, to: last.restorable!.to },
      continuous: true,
      generation: generation.name,
    };
    return await job.write(run);
  } finally {
    await repo.close().catch(() => undefined);
  }
}

/** Deletes segments by their known keys (no listing): each manifest first, so none is half there; the catalog forgets them. */
async function deleteSegments(deps: { opener: RepositoryOpener; catalog: BackupCatalog; logger: Logger }, url: string, members: Manifest[]): Promise<void> {
  const repo = await deps.opener.open(url, 'write');
  try {
    for (const m of members) {
      await repo.store.delete(partKey(m.source, m.id, MANIFEST_NAME));
      for (const p of m.parts) await repo.store.delete(partKey(m.source, m.id, p.name)).catch(() => undefined);
    }
    await deps.catalog.forget(repo.store.location, members.map((m) => m.id));
  } catch (err) {
    deps.logger.warn('compacted segments could not all be deleted; `dbbackup prune` removes what is left', { repository: url, error: String((err as Error)?.message ?? err) });
  } finally {
    await repo.close().catch(() => undefined);
  }
}
