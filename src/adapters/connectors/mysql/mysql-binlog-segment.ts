import { Readable } from 'node:stream';
import type { PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { LOG_SEGMENT_PART, readLogSegment } from '../../../domain/log-segment.js';
import type { PartEntry } from '../../../domain/manifest.js';
import { ARTIFICIAL_FLAG, BINLOG_MAGIC, EventType, type FormatDescription, HEADER_LENGTH, isGtidEvent, readFormatDescription, readGtid, readHeader, readRotate } from './mysql-binlog-events.js';
import { INDEX_FORMAT, INDEX_PART, type IndexLine } from './mysql-binlog-index.js';

/** The one binlog part a segment reads as. */
const SEGMENT_BINLOG = 'changes/000000.binlog';

/**
 * A log segment (what `replicate` ships, mysql-continuous.ts) read as a binlog incremental: its
 * commits' payloads (the marker naming its binlog file, a FORMAT_DESCRIPTION, then one
 * transaction's raw events; segments written before the marker lack it) become one binlog
 * file (the magic, each FORMAT_DESCRIPTION once while it does not change, the transactions) and an
 * index part with one line per commit timed by the segment's commit time, with its GTID and server
 * position (file from the marker, '' without one), so the BINLOG replay path
 * (mysql-binlog-apply.ts) restores it and stops at `--at`, `--at-gtid` or `--at-position` inside it.
 * Both parts are produced from the stored segment as they are read (constant memory); every
 * event's length is checked against its payload (untrusted). Other backups pass through unchanged.
 */
export function segmentAsBinlog(parts: PartSource): PartSource {
  const segment = parts.manifest.parts.find((p) => p.name.startsWith(LOG_SEGMENT_PART));
  if (!segment) return parts;
  const what = `${segment.name} of segment ${parts.manifest.id}`;
  const from = parts.manifest.position?.from ?? null;
  const to = parts.manifest.position?.to ?? null;
  return {
    manifest: { ...parts.manifest, parts: [{ ...segment, name: SEGMENT_BINLOG }, { ...segment, name: INDEX_PART }] },
    ...(parts.checked ? { checked: parts.checked } : {}),
    async open(part: PartEntry): Promise<Readable> {
      const records = segmentRecords(await parts.open(segment), what);
      if (part.name === INDEX_PART) {
        return Readable.from(
          (async function* () {
            yield `${JSON.stringify({ format: INDEX_FORMAT, version: 1, from, to })}\n`;
            for await (const r of records) if (r.line) yield `${JSON.stringify(r.line)}\n`;
          })(),
        );
      }
      return Readable.from(
        (async function* () {
          for await (const r of records) if (r.bytes) yield r.bytes;
        })(),
      );
    },
  };
}

/** The binlog file's bytes and, after each transaction's, its index line. */
async function* segmentRecords(body: Readable, what: string): AsyncGenerator<{ bytes?: Buffer; line?: IndexLine }> {
  const bad = (why: string) => new DbBackupError('E_FOREIGN_ARCHIVE', `${what} does not hold binary log transactions (${why}); the backup is damaged or foreign.`);
  yield { bytes: BINLOG_MAGIC };
  let offset = BINLOG_MAGIC.length;
  let lastFormat: Buffer | undefined;
  let fd: FormatDescription | undefined;
  for await (const commit of readLogSegment(body, what)) {
    const events = splitEvents(commit.payload, bad);
    const file = markedFile(events[0]!, bad);
    if (file !== undefined) events.shift();
    const format = events[0];
    if (!format || readHeader(format).type !== EventType.FORMAT_DESCRIPTION || events.length < 2) throw bad('a commit without its FORMAT_DESCRIPTION and events');
    if (!lastFormat?.equals(format)) {
      lastFormat = format;
      fd = readFormatDescription(format);
      yield { bytes: format };
      offset += format.length;
    }
    const start = offset;
    let gtid: string | undefined;
    let pos = 0;
    for (const event of events.slice(1)) {
      const h = readHeader(event);
      if (isGtidEvent(h.type)) gtid = readGtid(event, h, fd!).gtid;
      pos = h.logPos;
      yield { bytes: event };
      offset += event.length;
    }
    const line: IndexLine = { part: SEGMENT_BINLOG, offset: start, end: offset, file: file ?? '', pos, ...(gtid ? { gtid } : {}), time: Math.floor(commit.time / 1000), timeMicros: Math.round(commit.time * 1000), tables: [] };
    yield { line };
  }
}

/** The binlog file an artificial ROTATE (replicate's marker) names, or undefined for any other event. */
function markedFile(event: Buffer, bad: (why: string) => Error): string | undefined {
  const h = readHeader(event);
  if (h.type !== EventType.ROTATE || (h.flags & ARTIFICIAL_FLAG) === 0) return undefined;
  const file = readRotate(event, undefined).file;
  if (!/^[\w.-]{1,255}\.\d+$/.test(file)) throw bad('a marker that names no binary log file');
  return file;
}

/** The events of one commit's payload, each within it. */
function splitEvents(payload: Buffer, bad: (why: string) => Error): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < payload.length; ) {
    if (payload.length - at < HEADER_LENGTH) throw bad('an event cut short');
    const size = payload.readUInt32LE(at + 9);
    if (size < HEADER_LENGTH || size > payload.length - at) throw bad(`an event of ${size} bytes`);
    out.push(payload.subarray(at, at + size));
    at += size;
  }
  return out;
}
