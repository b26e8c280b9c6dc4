import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { renameTableMapDb } from '../../../src/adapters/connectors/mysql/mysql-binlog-applier.js';
import {
  BINLOG_MAGIC,
  BinlogFormatError,
  comparePositions,
  EventType,
  readFormatDescription,
  readGtid,
  readHeader,
  readQuery,
  readTableMap,
} from '../../../src/adapters/connectors/mysql/mysql-binlog-events.js';
import { binlogEvents } from '../../helpers/binlog-event.js';
import { statementDatabases, TransactionSplitter } from '../../../src/adapters/connectors/mysql/mysql-binlog-transactions.js';
import { parseLogStatus } from '../../../src/adapters/connectors/mysql/mysql-flavor.js';

/**
 * A binlog file written by MariaDB 10.11 (server id 7, CRC32 checksums) for: CREATE DATABASE cap;
 * CREATE TABLE cap.t; INSERT of two rows; BEGIN; UPDATE; DELETE; COMMIT; ALTER TABLE ADD COLUMN.
 * See fixtures/README.md for how it was captured.
 */
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

describe('binlog event parsing (captured MariaDB 10.11 bytes)', () => {
  const all = events(file);

  it('reads headers, the FORMAT_DESCRIPTION and its checksum', () => {
    expect(file.subarray(0, 4).equals(BINLOG_MAGIC)).toBe(true);
    const fdHeader = readHeader(all[0]!);
    expect(fdHeader).toMatchObject({ type: EventType.FORMAT_DESCRIPTION, serverId: 7, logPos: 256 });
    const fd = readFormatDescription(all[0]!);
    expect(fd.serverVersion).toMatch(/^10\.11\.\d+-MariaDB/);
    expect(fd.checksumLength).toBe(4);
    // Every event's last 4 bytes are the CRC32 of the rest, and log_pos is the offset after it.
    let offset = 4;
    for (const e of all) {
      offset += e.length;
      expect(readHeader(e).logPos).toBe(offset);
      expect(e.readUInt32LE(e.length - 4)).toBe(crc32(e.subarray(0, e.length - 4)));
    }
  });

  it('reads QUERY, TABLE_MAP and GTID events', () => {
    const fd = readFormatDescription(all[0]!);
    const queries = all.filter((e) => readHeader(e).type === EventType.QUERY).map((e) => readQuery(e, fd));
    expect(queries.map((q) => q.query)).toEqual(['CREATE DATABASE cap', 'CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))', 'ALTER TABLE t ADD COLUMN n INT DEFAULT 3']);
    expect(queries[1]).toMatchObject({ db: 'cap', charset: [33, 33, 8] });
    expect(queries[1]!.timeZone).toBeUndefined();
    expect(typeof queries[1]!.sqlMode).toBe('bigint');
    const maps = all.filter((e) => readHeader(e).type === EventType.TABLE_MAP).map((e) => readTableMap(e, fd));
    expect(maps.map((m) => `${m.db}.${m.table}`)).toEqual(['cap.t', 'cap.t', 'cap.t']);
    const gtids = all.filter((e) => readHeader(e).type === EventType.MARIADB_GTID).map((e) => readGtid(e, readHeader(e), fd));
    expect(gtids.map((g) => [g.gtid, g.standalone])).toEqual([
      ['0-7-1', true],
      ['0-7-2', true],
      ['0-7-3', false],
      ['0-7-4', false],
      ['0-7-5', true],
    ]);
  });

  it('splits the events into transactions with their end positions, GTIDs and tables', () => {
    const splitter = new TransactionSplitter({ file: 'binlog.000002', position: 4 }, 4);
    const commits = [];
    for (const e of all) {
      const unit = splitter.push(e);
      if (unit?.kind === 'event' && unit.commit) commits.push(unit.commit);
    }
    expect(commits.map((c) => [c.gtid, c.pos, c.tables, c.ddl ?? false])).toEqual([
      ['0-7-1', 492, ['cap'], true],
      ['0-7-2', 659, ['cap'], true],
      ['0-7-3', 895, ['cap.t'], false],
      ['0-7-4', 1261, ['cap.t'], false],
      ['0-7-5', 1418, ['cap'], true],
    ]);
    // The file ends with a ROTATE to the next file.
    expect(splitter.at).toEqual({ file: 'binlog.000003', position: 4 });
    expect(splitter.inTransaction).toBe(false);
    expect(commits.every((c) => c.time > 1_700_000_000)).toBe(true);
  });

  it('rewrites a TABLE_MAP to another database with a valid length and checksum', () => {
    const fd = readFormatDescription(all[0]!);
    const map = all.find((e) => readHeader(e).type === EventType.TABLE_MAP)!;
    const renamed = renameTableMapDb(map, fd, 'another_db');
    expect(readHeader(renamed).size).toBe(renamed.length);
    expect(readTableMap(renamed, fd)).toMatchObject({ db: 'another_db', table: 't', tableId: readTableMap(map, fd).tableId });
    expect(renamed.readUInt32LE(renamed.length - 4)).toBe(crc32(renamed.subarray(0, renamed.length - 4)));
    // Everything after the names is unchanged (column types and metadata).
    expect(renamed.subarray(19 + 9 + 10 + 1, renamed.length - 4).equals(map.subarray(19 + 9 + 3 + 1, map.length - 4))).toBe(true);
  });

  it('refuses damaged events instead of reading past them', () => {
    const fd = readFormatDescription(all[0]!);
    const q = all.find((e) => readHeader(e).type === EventType.QUERY)!;
    expect(() => readHeader(q.subarray(0, 10))).toThrow(BinlogFormatError);
    expect(() => readHeader(q.subarray(0, q.length - 1))).toThrow(BinlogFormatError);
    const bad = Buffer.from(q);
    bad.writeUInt16LE(60000, 19 + 11);
    expect(() => readQuery(bad, fd)).toThrow(BinlogFormatError);
  });

  it('orders positions across files', () => {
    expect(comparePositions({ file: 'binlog.000002', position: 900 }, { file: 'binlog.000010', position: 4 })).toBe(-1);
    expect(comparePositions({ file: 'binlog.000010', position: 400 }, { file: 'binlog.000010', position: 400 })).toBe(0);
    expect(comparePositions({ file: 'binlog.000010', position: 500 }, { file: 'binlog.000010', position: 400 })).toBe(1);
  });
});

describe('MySQL 8 binlog data (captured bytes)', () => {
  it('reads a MySQL 8.0.19 GTID event: uuid:gno and the immediate commit time in microseconds', () => {
    // The GTID event body from go-mysql's replication tests ("mysql-8.0 only", captured from MySQL 8.0.19).
    const body = Buffer.from(
      '005ccc103344a811eabd590242ac1900037700000000000000027800000000000000790000000000000' + '06a30b13e78a005fcc3039338010000',
      'hex',
    );
    const header = Buffer.alloc(19);
    header.writeUInt32LE(1583813191, 0);
    header[4] = EventType.MYSQL_GTID;
    header.writeUInt32LE(1, 5);
    header.writeUInt32LE(19 + body.length, 9);
    const event = Buffer.concat([header, body]);
    const g = readGtid(event, readHeader(event), { serverVersion: '8.0.19', checksumLength: 0 });
    expect(g).toEqual({ gtid: '5ccc1033-44a8-11ea-bd59-0242ac190003:119', standalone: true, commitMicros: 1583813191872618 });
  });

  it('splits MySQL-shaped groups: GTID + BEGIN … XID, and GTID + DDL alone, with the commit time of the GTID event', () => {
    const fd = { serverVersion: '8.0.19', checksumLength: 0 };
    const events = binlogEvents();
    const { ev } = events;
    const query = (db: string, sql: string) => {
      const head = Buffer.alloc(13);
      head[8] = db.length;
      return ev(EventType.QUERY, Buffer.concat([head, Buffer.from(db), Buffer.from([0]), Buffer.from(sql)]));
    };
    const tableMap = (db: string, table: string) =>
      ev(EventType.TABLE_MAP, Buffer.concat([Buffer.from([42, 0, 0, 0, 0, 0, 1, 0]), Buffer.from([db.length]), Buffer.from(db), Buffer.from([0, table.length]), Buffer.from(table), Buffer.from([0, 1, 3, 0])]));
    const gtidBody = Buffer.from('005ccc103344a811eabd590242ac1900037700000000000000027800000000000000790000000000000' + '06a30b13e78a005fcc3039338010000', 'hex');
    const stream = [
      ev(EventType.FORMAT_DESCRIPTION, Buffer.alloc(2 + 50 + 4 + 1 + 40 + 1)),
      ev(EventType.MYSQL_GTID, gtidBody),
      query('shop', 'BEGIN'),
      tableMap('shop', 'items'),
      ev(EventType.WRITE_ROWS_V2, Buffer.from([42, 0, 0, 0, 0, 0, 1, 0, 2, 0, 1, 1, 0xfe, 7, 0, 0, 0])),
      ev(EventType.XID, Buffer.from([9, 0, 0, 0, 0, 0, 0, 0])),
      ev(EventType.MYSQL_GTID, gtidBody),
      query('shop', 'ALTER TABLE items ADD COLUMN n INT'),
    ];
    const splitter = new TransactionSplitter({ file: 'binlog.000007', position: 4 }, fd.checksumLength);
    const commits = stream.map((e) => splitter.push(e)).flatMap((u) => (u?.kind === 'event' && u.commit ? [u.commit] : []));
    expect(commits).toEqual([
      { file: 'binlog.000007', pos: readHeader(stream[5]!).logPos, gtid: '5ccc1033-44a8-11ea-bd59-0242ac190003:119', time: 1583813191, timeMicros: 1583813191872618, tables: ['shop.items'] },
      { file: 'binlog.000007', pos: events.pos, gtid: '5ccc1033-44a8-11ea-bd59-0242ac190003:119', time: 1583813191, timeMicros: 1583813191872618, tables: ['shop'], ddl: true },
    ]);
    expect(splitter.inTransaction).toBe(false);
  });

  it('reads performance_schema.log_status LOCAL', () => {
    const local = '{"gtid_executed": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\\n8a3b1d10-2222-11e1-9e33-c80aa9429562:1-2", "binary_log_file": "binlog.000003", "binary_log_position": 1517}';
    expect(parseLogStatus(local)).toEqual({
      file: 'binlog.000003',
      position: 1517,
      gtid: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,8a3b1d10-2222-11e1-9e33-c80aa9429562:1-2',
      flavor: 'mysql',
    });
    expect(parseLogStatus({ gtid_executed: '' })).toBeNull();
    expect(parseLogStatus('not json')).toBeUndefined();
  });
});

describe('the databases a statement without a default database is about (replicate ships only the source\'s)', () => {
  const of = (query: string, db = '') => statementDatabases({ db, query });

  it('the default database when there is one', () => {
    expect(of('CREATE TABLE other.t (x INT)', 'shop')).toEqual(['shop']);
  });

  it('another database\'s DDL as a restore or an operator runs it: named, so not the source\'s', () => {
    // What a restore into another database and the reliability trial's cleanup log (MariaDB 10.11, no default database).
    expect(of('DROP DATABASE IF EXISTS rep_caught')).toEqual(['rep_caught']);
    expect(of('set foreign_key_checks=0; CREATE DATABASE `rep_caught` CHARACTER SET latin1 COLLATE latin1_swedish_ci')).toEqual(['rep_caught']);
    expect(of("set foreign_key_checks=0; CREATE TABLE IF NOT EXISTS `rep_caught`.`dbbackup_restore_incomplete` (backup_id VARCHAR(200)) COMMENT 'partial; see rep.ev, 1.5'")).toEqual(['rep_caught']);
    expect(of('ALTER SCHEMA `we``ird` CHARACTER SET utf8mb4')).toEqual(['we`ird']);
    expect(of("GRANT SELECT ON shop.* TO 'u'@'%'")).toEqual(['shop']);
  });

  it('every database a statement names (the source among them: shipped); none found, a USE inside or a huge statement: [] (shipped to be safe)', () => {
    expect(of('CREATE TABLE other.x AS SELECT a.id FROM shop.items a').sort()).toEqual(['a', 'other', 'shop']);
    expect(of('FLUSH PRIVILEGES')).toEqual([]);
    expect(of('USE shop; CREATE TABLE other.t (x INT)')).toEqual([]);
    expect(of(`CREATE TABLE other.t (x INT) COMMENT '${'x'.repeat(70_000)}'`)).toEqual([]);
  });
});
