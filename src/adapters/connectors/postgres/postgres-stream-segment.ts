import { LOG_SEGMENT_PART, readLogSegment } from '../../../domain/log-segment.js';
import { type ChangeLine, checkLine, unsafeChangeLog } from './postgres-change-log.js';
import { changeBatches, payloadLines } from './postgres-change-records.js';
import { PgOutputDecoder } from './postgres-pgoutput.js';

/**
 * The change lines of a part of any PostgreSQL backup, validated, in runs: a change-log part's
 * (postgres-change-records.ts), or a log segment's (what `replicate` ships,
 * postgres-continuous.ts), so that a segment restores through the same apply path as an
 * incremental (postgres-change-apply.ts), stopping at the last commit at or before `--at`.
 *
 * A segment's commits (domain/log-segment.ts) each hold one source transaction, in either format:
 * - format 2 (replicate since change-log format 2): the transaction's pgoutput records as a
 *   format-2 part holds them (u32 length, message), without header or end record (the segment
 *   frames each commit). The first commit of every segment starts with the Relation records of the
 *   relations described before it, so a segment (and a compacted one, which concatenates segments'
 *   commits) decodes on its own; the last commit of a poll ends with the sequences record.
 * - format 1 (segments written before): the transaction's change-log lines (postgres-change-log.ts),
 *   the last commit of a poll ending with the sequences line.
 * A payload's first byte tells them apart: `{` starts a line, while a record's length starts with a
 * byte below 0x41 (no record is 1 GiB). Compaction may put both in one part: each commit is read as
 * what it is. The lines start with a header line, as a change-log part's do.
 */
export function partBatches(name: string, body: AsyncIterable<unknown>, where: string): AsyncGenerator<ChangeLine[]> {
  return name.startsWith(LOG_SEGMENT_PART) ? segmentBatches(body, where) : changeBatches(body, where);
}

/** changeLines' form of partBatches: one line at a time. */
export async function* partLines(name: string, body: AsyncIterable<unknown>, where: string): AsyncGenerator<ChangeLine> {
  for await (const batch of partBatches(name, body, where)) yield* batch;
}

/** Lines handed on at once (as changeBatches does). */
const RUN = 256;
/** Longest line read (V8's longest string): a longer one is not a line dbbackup wrote. */
const MAX_LINE = (1 << 29) - 24;

async function* segmentBatches(body: AsyncIterable<unknown>, where: string): AsyncGenerator<ChangeLine[]> {
  yield [{ kind: 'header' }];
  const decoder = new PgOutputDecoder((what) => unsafeChangeLog(where, what), true);
  let out: ChangeLine[] = [];
  for await (const commit of readLogSegment(body, where)) {
    const p = commit.payload;
    if (p.length === 0) throw unsafeChangeLog(where, 'an empty commit');
    if (p[0] === 0x7b /* { */) jsonPayload(p, where, out);
    else payloadLines(decoder, p, 0, p.length, where, out);
    if (out.length >= RUN) {
      yield out;
      out = [];
    }
  }
  if (out.length) yield out;
}

/** A format 1 commit's lines (each validated by checkLine). */
function jsonPayload(p: Buffer, where: string, out: ChangeLine[]): void {
  let start = 0;
  while (start < p.length) {
    let nl = p.indexOf(0x0a, start);
    if (nl < 0) nl = p.length;
    if (nl - start > MAX_LINE) throw unsafeChangeLog(where, 'a line longer than any dbbackup writes');
    if (nl > start) out.push(checkLine(p.toString('utf8', start, nl), where));
    start = nl + 1;
  }
}
