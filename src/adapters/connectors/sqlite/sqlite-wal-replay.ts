import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { LOG_SEGMENT_PART, readLogSegment } from '../../../domain/log-segment.js';
import type { PartEntry } from '../../../domain/manifest.js';
import { validPageSize } from './sqlite-page-map.js';
import type { WalCommit } from './sqlite-wal.js';

/**
 * A SQLite commit as a log segment payload: the pages it wrote and the database size after it.
 *
 *   u32 pageSize | u32 pageCount after the commit | n × (u32 pgno | page)     (big-endian)
 */
export function encodeCommit(pageSize: number, commit: WalCommit): Buffer {
  const out = Buffer.alloc(8 + commit.pages.size * (4 + pageSize));
  out.writeUInt32BE(pageSize, 0);
  out.writeUInt32BE(commit.pageCount, 4);
  let at = 8;
  for (const [pgno, page] of [...commit.pages].sort((a, b) => a[0] - b[0])) {
    out.writeUInt32BE(pgno, at);
    page.copy(out, at + 4);
    at += 4 + pageSize;
  }
  return out;
}

function decodeCommit(payload: Buffer, what: string): { pageSize: number; pageCount: number; pages: { pgno: number; page: Buffer }[] } {
  const bad = () => new DbBackupError('E_FOREIGN_ARCHIVE', `${what} holds a commit that is not a SQLite page set; the backup is damaged or foreign.`);
  if (payload.length < 8) throw bad();
  const pageSize = payload.readUInt32BE(0);
  const pageCount = payload.readUInt32BE(4);
  if (!validPageSize(pageSize) || pageCount === 0 || (payload.length - 8) % (4 + pageSize) !== 0) throw bad();
  const pages = [];
  for (let at = 8; at < payload.length; at += 4 + pageSize) {
    const pgno = payload.readUInt32BE(at);
    if (pgno < 1 || pgno > pageCount) throw bad();
    pages.push({ pgno, page: payload.subarray(at + 4, at + 4 + pageSize) });
  }
  return { pageSize, pageCount, pages };
}

/** Where a replay of log segments stopped. */
export interface ReplayReached {
  /** ISO instant of the last commit applied; undefined when none was. */
  lastCommitAt?: string;
  commits: number;
}

/** Segments fetched ahead while earlier ones are applied (a restore of many small objects waits on latency, not bandwidth). */
const PREFETCH = 4;

/**
 * Applies the commits of log segments (oldest first) onto the database file `file`, each commit
 * whole (its pages, then the file cut or grown to its size), stopping before the first commit seen
 * after `until`. Segments are fetched PREFETCH at a time into `scratch` (verified as they stream),
 * then applied in order.
 */
export async function replaySegments(segments: readonly PartSource[], file: string, scratch: string, until: Date | undefined, signal: AbortSignal): Promise<ReplayReached> {
  const reached: ReplayReached = { commits: 0 };
  const fetched = new Map<number, Promise<string>>();
  const fetch = (i: number) => {
    if (i >= segments.length || fetched.has(i)) return;
    const local = join(scratch, `segment-${i}.seg`);
    const src = segments[i]!;
    const p = src.open(segmentPart(src)).then((body) => pipeline(body, createWriteStream(local, { mode: 0o600 }), { signal })).then(() => local);
    p.catch(() => undefined);
    fetched.set(i, p);
  };
  const handle = await open(file, 'r+');
  try {
    for (let i = 0; i < segments.length; i++) {
      for (let k = i; k < i + PREFETCH; k++) fetch(k);
      const local = await fetched.get(i)!;
      const what = `Part ${segmentPart(segments[i]!).name} of backup ${segments[i]!.manifest.id}`;
      let stop = false;
      for await (const commit of readLogSegment(createReadStream(local, { highWaterMark: 1 << 20 }), what)) {
        if (until && commit.time > until.getTime()) {
          stop = true;
          break;
        }
        const c = decodeCommit(commit.payload, what);
        for (const { pgno, page } of c.pages) await handle.write(page, 0, page.length, (pgno - 1) * c.pageSize);
        await handle.truncate(c.pageCount * c.pageSize);
        reached.commits++;
        reached.lastCommitAt = new Date(commit.time).toISOString();
      }
      await rm(local, { force: true });
      if (stop) break;
    }
    await handle.sync();
  } finally {
    await handle.close();
    await Promise.allSettled(fetched.values());
  }
  return reached;
}

export function segmentPart(parts: PartSource): PartEntry {
  const part = parts.manifest.parts.find((p) => p.name === LOG_SEGMENT_PART || p.name.startsWith(`${LOG_SEGMENT_PART}.`));
  if (!part) throw new DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${parts.manifest.id} is a log segment without its part ${LOG_SEGMENT_PART}; it is damaged.`);
  return part;
}

export function isSegment(parts: PartSource): boolean {
  return parts.manifest.continuous === true;
}
