import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { PartSource } from '../../../src/application/ports/parts.js';
import { BINLOG_MAGIC, EventType, fileMarker, readHeader } from '../../../src/adapters/connectors/mysql/mysql-binlog-events.js';
import { findStop, INDEX_PART } from '../../../src/adapters/connectors/mysql/mysql-binlog-index.js';
import { segmentAsBinlog } from '../../../src/adapters/connectors/mysql/mysql-binlog-segment.js';
import { TransactionSplitter } from '../../../src/adapters/connectors/mysql/mysql-binlog-transactions.js';
import { commitTime } from '../../../src/adapters/connectors/mysql/mysql-continuous.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { encodeLogSegment, LOG_SEGMENT_PART, type LogCommit } from '../../../src/domain/log-segment.js';
import type { Manifest, PartEntry } from '../../../src/domain/manifest.js';

/** The captured MariaDB 10.11 binlog of mysql-binlog-events.test.ts (fixtures/README.md). */
const file = readFileSync(join(import.meta.dirname, 'fixtures', 'mariadb-10.11.binlog'));

function events(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = BINLOG_MAGIC.length; i < bytes.length; ) {
    const size = bytes.readUInt32LE(i + 9);
    out.push(bytes.subarray(i, i + size));
    i += size;
  }
  return out;
}

/** The fixture's transactions as replicate ships them: the FORMAT_DESCRIPTION, then each transaction's events. */
function commits(): { format: Buffer; txns: Buffer[][]; commits: LogCommit[] } {
  const splitter = new TransactionSplitter({ file: 'binlog.000001', position: 4 }, 4);
  let format: Buffer | undefined;
  let txn: Buffer[] | undefined;
  const txns: Buffer[][] = [];
  for (const event of events(file)) {
    const u = splitter.push(event);
    if (!u) continue;
    if (u.kind === 'format') {
      format = u.event;
      continue;
    }
    if (u.first) txn = [];
    if (!txn) continue;
    txn.push(u.event);
    if (u.commit) {
      txns.push(txn);
      txn = undefined;
    } else if (!splitter.inTransaction) txn = undefined;
  }
  return { format: format!, txns, commits: txns.map((t, i) => ({ time: 1_700_000_000_000 + i * 10, payload: Buffer.concat([format!, ...t]) })) };
}

function source(bytes: Buffer): PartSource {
  const part = { name: `${LOG_SEGMENT_PART}.zst`, role: 'changes', codecs: [], rawSize: bytes.length, storedSize: bytes.length, sha256: '' } as unknown as PartEntry;
  return { manifest: { id: 'seg', parts: [part], position: { from: { file: 'binlog.000001', position: 4 }, to: null } } as unknown as Manifest, open: async () => Readable.from([bytes]) };
}

async function read(parts: PartSource, name: string): Promise<Buffer> {
  const part = parts.manifest.parts.find((p) => p.name === name)!;
  const chunks: Buffer[] = [];
  for await (const c of await parts.open(part)) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

describe('a MySQL log segment read as a binlog incremental', () => {
  it('is one binlog file (the FORMAT_DESCRIPTION once) and an index line per commit at its offsets and time', async () => {
    const c = commits();
    expect(c.txns.length).toBeGreaterThanOrEqual(4);
    const parts = segmentAsBinlog(source(Buffer.concat([...encodeLogSegment(c.commits)])));
    expect(parts.manifest.parts.map((p) => p.name)).toEqual(['changes/000000.binlog', INDEX_PART]);
    const binlog = await read(parts, 'changes/000000.binlog');
    expect(binlog.equals(Buffer.concat([BINLOG_MAGIC, c.format, ...c.txns.flat()]))).toBe(true);
    const lines = (await read(parts, INDEX_PART)).toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ format: 'dbbackup-mysql-binlog-index', version: 1, from: { file: 'binlog.000001', position: 4 } });
    let offset = BINLOG_MAGIC.length + c.format.length;
    for (const [i, t] of c.txns.entries()) {
      const size = t.reduce((n, e) => n + e.length, 0);
      const gtid = t.some((e) => readHeader(e).type === EventType.MARIADB_GTID);
      expect(lines[i + 1]).toMatchObject({ part: 'changes/000000.binlog', offset, end: offset + size, time: Math.floor(c.commits[i]!.time / 1000), timeMicros: c.commits[i]!.time * 1000 });
      expect(typeof lines[i + 1]!.gtid === 'string').toBe(gtid);
      offset += size;
    }
    expect(lines).toHaveLength(c.txns.length + 1);
  });

  it('reads replicate\'s file marker into each index line (not into the binlog); --at-position stops inside the segment, refused on unmarked ones', async () => {
    const c = commits();
    const marked = c.commits.map((m, i) => ({ ...m, payload: Buffer.concat([fileMarker(i < 2 ? 'binlog.000001' : 'binlog.000002'), m.payload]) }));
    const parts = segmentAsBinlog(source(Buffer.concat([...encodeLogSegment(marked)])));
    expect((await read(parts, 'changes/000000.binlog')).equals(Buffer.concat([BINLOG_MAGIC, c.format, ...c.txns.flat()]))).toBe(true);
    const lines = (await read(parts, INDEX_PART)).toString().trim().split('\n').slice(1).map((l) => JSON.parse(l) as { file: string; pos: number; end: number; gtid?: string });
    expect(lines.map((l) => l.file)).toEqual(lines.map((_, i) => (i < 2 ? 'binlog.000001' : 'binlog.000002')));
    const inside = lines[1]!;
    expect(await findStop(parts, { position: { position: `binlog.000001:${inside.pos}` } })).toEqual({ part: 'changes/000000.binlog', end: inside.end });
    expect(await findStop(parts, { position: { position: `binlog.000001:${inside.pos - 1}` } })).toEqual({ part: 'changes/000000.binlog', end: lines[0]!.end });
    const withGtid = lines.find((l, i) => i > 0 && l.gtid)!;
    expect(await findStop(parts, { position: { gtid: withGtid.gtid! } })).toEqual({ part: 'changes/000000.binlog', end: withGtid.end });
    const old = segmentAsBinlog(source(Buffer.concat([...encodeLogSegment(c.commits)])));
    const err = await findStop(old, { position: { position: 'binlog.000001:400' } }).catch((e: unknown) => e);
    expect(isDbBackupError(err, 'E_UNSUPPORTED'), String(err)).toBe(true);
  });

  it('refuses a payload whose events do not fit it, or without its FORMAT_DESCRIPTION', async () => {
    const c = commits();
    const cut = { time: 1, payload: c.commits[1]!.payload.subarray(0, c.commits[1]!.payload.length - 3) };
    const bare = { time: 1, payload: Buffer.concat(c.txns[1]!) };
    for (const bad of [cut, bare]) {
      const parts = segmentAsBinlog(source(Buffer.concat([...encodeLogSegment([bad])])));
      const err = await read(parts, 'changes/000000.binlog').catch((e: unknown) => e);
      expect(isDbBackupError(err, 'E_FOREIGN_ARCHIVE'), String(err)).toBe(true);
    }
  });

  it('leaves other backups as they are', () => {
    const other = { manifest: { id: 'inc', parts: [{ name: 'changes/000000.binlog' }] } as unknown as Manifest, open: async () => Readable.from([]) };
    expect(segmentAsBinlog(other)).toBe(other);
  });
});

describe('commitTime', () => {
  it('keeps MySQL 8 microseconds, and refines MariaDB whole seconds by when the commit was read, within its second', () => {
    expect(commitTime(1_700_000_000, 1_700_000_000_123_456, 0)).toBe(1_700_000_000_123);
    expect(commitTime(1_700_000_000, undefined, 1_700_000_000_400)).toBe(1_700_000_000_400);
    expect(commitTime(1_700_000_000, undefined, 1_700_000_003_000)).toBe(1_700_000_000_999);
    expect(commitTime(1_700_000_000, undefined, 1_699_999_999_000)).toBe(1_700_000_000_000);
  });
});
