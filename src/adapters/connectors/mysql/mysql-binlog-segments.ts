import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import { comparePositions } from './mysql-binlog-events.js';
import { readIndex } from './mysql-binlog-index.js';
import { binlogPositionOf } from './mysql-binlog-settings.js';
import type { FilePosition } from './mysql-binlog-transactions.js';

/**
 * A differential whose start the server purged is assembled from what the repository already
 * holds: the stored incrementals since the full (binlog files as the server wrote them, and their
 * index lines), then the server's log from the end of the last one copied.
 */

/**
 * The shortest run of `segments` (oldest first) whose end the server still has (`files`, SHOW
 * BINARY LOGS): the server's log goes on from there. Undefined when none ends in a file it has.
 */
export function segmentsToCopy(segments: readonly PartSource[], files: string[]): readonly PartSource[] | undefined {
  for (const [i, s] of segments.entries()) {
    const to = binlogPositionOf(s.manifest.logPosition, `log position of backup ${s.manifest.id}`);
    if (files.includes(to.file)) return segments.slice(0, i + 1);
  }
  return undefined;
}

/**
 * Copies `segments` into `sink` as this backup's first parts (`changes/NNNNNN.binlog` numbered on
 * from 0) and their index lines into `index`, checking that each starts where the one before ended
 * (the first at `since`). Returns the parts written, the end reached, and the transactions and
 * tables of `ours` (the backup's databases) they hold.
 */
export async function copySegments(
  segments: readonly PartSource[],
  since: FilePosition,
  sink: PartSink,
  index: Writable,
  ours: (table: string) => boolean,
  signal: AbortSignal,
): Promise<{ parts: number; end: FilePosition; transactions: number; tables: Set<string> }> {
  let at = since;
  let n = 0;
  const stats = { transactions: 0, tables: new Set<string>() };
  for (const seg of segments) {
    const id = seg.manifest.id;
    const names = new Map<string, string>();
    const binlogs = seg.manifest.parts.filter((p) => p.role === 'changes' && /^changes\/\d{6}\.binlog(\.|$)/.test(p.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const part of binlogs) names.set(part.name.replace(/(\.binlog)\..*$/, '$1'), `changes/${String(n++).padStart(6, '0')}.binlog`);
    // The index first: its header says where the segment starts, checked before any part is copied.
    const start = at;
    const broken = () =>
      new DbBackupError('E_LOG_PURGED', `The stored incrementals since the full do not follow on from each other (backup ${id} starts elsewhere), and the server purged the log in between; take a full backup.`);
    let headed = false;
    const onHeader = (h: Record<string, unknown>) => {
      headed = true;
      if (comparePositions(binlogPositionOf(h.from as Record<string, unknown>, `start of backup ${id}`), start) !== 0) throw broken();
    };
    for await (const tx of readIndex(seg, onHeader)) {
      const part = names.get(tx.part);
      if (part === undefined) throw new DbBackupError('E_FOREIGN_ARCHIVE', `The binlog index of backup ${id} names a part it does not hold (${tx.part}).`);
      if (!index.write(`${JSON.stringify({ ...tx, part })}\n`)) await once(index, 'drain');
      const mine = tx.tables.filter(ours);
      if (mine.length > 0) stats.transactions++;
      for (const t of mine) if (t.includes('.')) stats.tables.add(t);
    }
    if (!headed) throw broken();
    for (const part of binlogs) {
      signal.throwIfAborted();
      await sink.write({ name: names.get(part.name.replace(/(\.binlog)\..*$/, '$1'))!, role: 'changes' }, await seg.open(part));
    }
    at = binlogPositionOf(seg.manifest.logPosition, `log position of backup ${id}`);
  }
  return { parts: n, end: at, ...stats };
}
