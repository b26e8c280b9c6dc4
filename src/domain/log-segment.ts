import { DbBackupError } from './errors.js';

/**
 * The framing of a continuous log segment's part (what `replicate` ships), the same for every
 * engine: the commits of a stretch of the log, in commit order, each with the instant it was seen
 * and the engine's own bytes for it (SQLite: the pages it wrote).
 *
 *   "DBBLOGS1"
 *   per commit: "C" | f64 time (ms since the epoch) | u32 length | payload
 *   "E" | u32 commits                                               (big-endian)
 *
 * Compaction concatenates segments' commits into one part without knowing the engine, and keeps
 * every commit, so a compacted segment restores to each instant its pieces did. The end record
 * makes a cut-off part an error rather than a shorter log.
 */
export const LOG_SEGMENT_PART = 'changes/log.seg';
const MAGIC = Buffer.from('DBBLOGS1', 'latin1');
/** A payload larger than this is not ours (a segment is cut every few MiB; one huge transaction may exceed that). */
export const MAX_COMMIT_BYTES = 1 << 30;

export interface LogCommit {
  /** ms since the epoch: when the commit was seen in the log. */
  time: number;
  payload: Buffer;
}

export function logSegmentHeader(): Buffer {
  return Buffer.from(MAGIC);
}

export function logCommitRecord(c: LogCommit): Buffer[] {
  const head = Buffer.alloc(13);
  head.write('C', 0, 'latin1');
  head.writeDoubleBE(c.time, 1);
  head.writeUInt32BE(c.payload.length, 9);
  return [head, c.payload];
}

export function logSegmentTrailer(commits: number): Buffer {
  const b = Buffer.alloc(5);
  b.write('E', 0, 'latin1');
  b.writeUInt32BE(commits, 1);
  return b;
}

/**
 * The oldest of the commits waiting to be shipped, about `maxBytes` of payload (at least one), and
 * the entry of the last one taken (whose log position ends the batch); undefined when none wait.
 */
export function oldestCommits<T extends { commit: LogCommit }>(waiting: readonly T[], maxBytes: number): { commits: LogCommit[]; bytes: number; last: T } | undefined {
  if (waiting.length === 0) return undefined;
  const commits: LogCommit[] = [];
  let bytes = 0;
  let last = waiting[0]!;
  for (const w of waiting) {
    if (commits.length > 0 && bytes + w.commit.payload.length > maxBytes) break;
    commits.push(w.commit);
    bytes += w.commit.payload.length;
    last = w;
  }
  return { commits, bytes, last };
}

/** A whole segment part's bytes, for commits held in memory. */
export function* encodeLogSegment(commits: Iterable<LogCommit>): Generator<Buffer> {
  yield logSegmentHeader();
  let n = 0;
  for (const c of commits) {
    yield* logCommitRecord(c);
    n++;
  }
  yield logSegmentTrailer(n);
}

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly it: AsyncIterator<unknown>) {}

  /** Exactly `n` bytes, or undefined at a clean end before the first of them; throws on a cut in between. */
  async take(n: number, cut: () => Error): Promise<Buffer | undefined> {
    while (this.buffered < n) {
      const next = await this.it.next();
      if (next.done) {
        if (this.buffered === 0) return undefined;
        throw cut();
      }
      const c = Buffer.from(next.value as Uint8Array);
      this.chunks.push(c);
      this.buffered += c.length;
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return all.subarray(0, n);
  }
}

/**
 * Reads a segment part's commits in order. Everything read is untrusted: lengths are bounded
 * before anything is allocated, times must not go back. E_FOREIGN_ARCHIVE naming `what` when the
 * part is not a segment, is cut, or miscounts its commits. Stopping early (break) is allowed.
 */
export async function* readLogSegment(body: AsyncIterable<unknown>, what: string): AsyncGenerator<LogCommit> {
  const bad = (why: string) => new DbBackupError('E_FOREIGN_ARCHIVE', `${what} is not a readable dbbackup log segment (${why}); the backup is damaged or foreign.`);
  const cut = () => bad('it ends in the middle of a record');
  const r = new ByteReader(body[Symbol.asyncIterator]());
  const header = await r.take(MAGIC.length, cut);
  if (!header || !header.equals(MAGIC)) throw bad('wrong header');
  let commits = 0;
  let last = Number.NEGATIVE_INFINITY;
  for (;;) {
    const tag = await r.take(1, cut);
    if (!tag) throw bad('it has no end record');
    if (tag[0] === 0x45) {
      const n = (await r.take(4, cut))?.readUInt32BE(0);
      if (n === undefined) throw cut();
      if (n !== commits) throw bad(`its end record counts ${n} commits, ${commits} were read`);
      if (await r.take(1, cut)) throw bad('bytes follow its end record');
      return;
    }
    if (tag[0] !== 0x43) throw bad('an unknown record');
    const head = await r.take(12, cut);
    if (!head) throw cut();
    const time = head.readDoubleBE(0);
    const length = head.readUInt32BE(8);
    if (!Number.isFinite(time) || time < last) throw bad('commit times out of order');
    if (length > MAX_COMMIT_BYTES) throw bad(`a commit of ${length} bytes`);
    const payload = length === 0 ? Buffer.alloc(0) : await r.take(length, cut);
    if (!payload) throw cut();
    last = time;
    commits++;
    yield { time, payload };
  }
}
