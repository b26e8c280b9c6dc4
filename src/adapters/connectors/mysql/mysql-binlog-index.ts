import type { Readable } from 'node:stream';
import type { ChangeLimit } from '../../../application/ports/change-capture.js';
import type { PartEntry } from '../../../domain/manifest.js';
import type { PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { comparePositions } from './mysql-binlog-events.js';
import { binlogTarget } from './mysql-binlog-locate.js';

/** The index part of a binlog incremental: a header line, then one line per transaction (see IndexLine). */
export const INDEX_PART = 'changes/index.jsonl';
export const INDEX_FORMAT = 'dbbackup-mysql-binlog-index';

/** A transaction's line in the index: where it ends in which stored part, and what it is. */
export interface IndexLine {
  part: string;
  /** Byte offsets in the stored binlog part where the transaction starts and ends. */
  offset: number;
  end: number;
  file: string;
  pos: number;
  gtid?: string;
  /** Commit time in seconds since the epoch. */
  time: number;
  timeMicros?: number;
  tables: string[];
  ddl?: boolean;
}

/** Where applying a link's parts stops: after byte `end` of `part` (a transaction's end), or before anything. */
export type ApplyStop = { part: string; end: number } | 'nothing' | undefined;

const MAX_LINE = 1 << 20;

/** The stored part whose base name (before the codec suffixes) is `base`. */
export function partNamed(parts: PartEntry[], base: string): PartEntry | undefined {
  return parts.find((p) => p.name === base || p.name.startsWith(`${base}.`));
}

/**
 * Reads a link's index part (untrusted: lines are bounded, fields checked) and finds where a
 * replay up to `until` stops: after the last transaction committed at or before `until.time`
 * (MariaDB's binlog times have one-second resolution: a commit in the same second counts as at or
 * before it; MySQL 8's GTID events carry microseconds), ending at or before `until.position`
 * (`{ position: 'FILE:POS' }` or `{ file, position }`), or after the transaction with the GTID
 * `until.position.gtid` (E_NO_RESTORE_POINT when this link has none). Undefined: replay everything.
 */
export async function findStop(parts: PartSource, until: ChangeLimit | undefined): Promise<ApplyStop> {
  if (!until?.time && !until?.position) return undefined;
  const entry = partNamed(parts.manifest.parts, INDEX_PART);
  if (!entry) throw new DbBackupError('E_UNSUPPORTED', `Backup ${parts.manifest.id} has no binlog index part (${INDEX_PART}); it cannot be restored to a point in time.`);
  const limitSeconds = until.time ? Math.floor(until.time.getTime() / 1000) : undefined;
  const target = until.position ? binlogTarget(until.position) : undefined;
  const limitPos = target && 'file' in target ? target : undefined;
  const limitGtid = target && 'gtid' in target ? target.gtid : undefined;
  let stop: ApplyStop = 'nothing';
  for await (const tx of readIndex(parts)) {
    if (limitGtid !== undefined) {
      stop = { part: tx.part, end: tx.end };
      if (tx.gtid?.toLowerCase() === limitGtid) return stop;
      continue;
    }
    // MySQL 8 records commit times in microseconds; MariaDB's binlog has whole seconds.
    const inTime = limitSeconds === undefined || (Number.isSafeInteger(tx.timeMicros) ? tx.timeMicros! <= until.time!.getTime() * 1000 : tx.time <= limitSeconds);
    if (limitPos !== undefined && tx.file === '') {
      throw new DbBackupError('E_UNSUPPORTED', `Backup ${parts.manifest.id} is a log segment written before segments named their binary log files, so --at-position cannot stop inside it; use --at TIME or --at-gtid.`);
    }
    const inPos = limitPos === undefined || comparePositions({ file: tx.file, position: tx.pos }, limitPos) <= 0;
    if (inTime && inPos) stop = { part: tx.part, end: tx.end };
  }
  if (limitGtid !== undefined) {
    throw new DbBackupError('E_NO_RESTORE_POINT', `Backup ${parts.manifest.id} holds no transaction with GTID ${limitGtid}; nothing after its parent was replayed.`);
  }
  return stop;
}

/**
 * The transactions of a link's index part (untrusted: lines bounded, fields checked), after
 * `onHeader` saw its header line ({ format, version, from, to }).
 */
export async function* readIndex(parts: PartSource, onHeader?: (header: Record<string, unknown>) => void): AsyncGenerator<IndexLine> {
  const entry = partNamed(parts.manifest.parts, INDEX_PART);
  if (!entry) throw new DbBackupError('E_UNSUPPORTED', `Backup ${parts.manifest.id} has no binlog index part (${INDEX_PART}).`);
  let first = true;
  for await (const line of lines(await parts.open(entry))) {
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new DbBackupError('E_FOREIGN_ARCHIVE', `${entry.name} of backup ${parts.manifest.id} holds a line that is not JSON.`);
    }
    if (first) {
      if (value?.format !== INDEX_FORMAT) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${entry.name} of backup ${parts.manifest.id} is not a binlog index.`);
      first = false;
      onHeader?.(value);
      continue;
    }
    yield checkLine(value, entry.name);
  }
}

function checkLine(v: Record<string, unknown>, where: string): IndexLine {
  const ok =
    typeof v.part === 'string' &&
    /^changes\/\d{6}\.binlog$/.test(v.part) &&
    Number.isSafeInteger(v.end) &&
    Number.isSafeInteger(v.time) &&
    typeof v.file === 'string' &&
    Number.isSafeInteger(v.pos);
  if (!ok) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} holds a line that is not a transaction of a binlog index.`);
  return v as unknown as IndexLine;
}

/** Lines of a stream, each at most MAX_LINE bytes (E_TOO_LARGE beyond). */
async function* lines(stream: Readable): AsyncGenerator<string> {
  let rest = '';
  for await (const chunk of stream) {
    rest += (chunk as Buffer).toString('utf8');
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      nl = rest.indexOf('\n');
    }
    if (rest.length > MAX_LINE) throw new DbBackupError('E_TOO_LARGE', `A binlog index line is over ${MAX_LINE} bytes.`);
  }
  if (rest !== '') yield rest;
}
