import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BinlogApplier } from '../../../src/adapters/connectors/mysql/mysql-binlog-applier.js';
import { GtidCarry } from '../../../src/adapters/connectors/mysql/mysql-binlog-carry.js';
import { EventType } from '../../../src/adapters/connectors/mysql/mysql-binlog-events.js';
import { GtidSkipper, gtidReplayPlan, parseGtidState, type TargetGtids } from '../../../src/adapters/connectors/mysql/mysql-binlog-gtids.js';
import { countOnto } from '../../../src/adapters/connectors/mysql/mysql-binlog-onto.js';
import { planSlavePos, reachedGtids } from '../../../src/adapters/connectors/mysql/mysql-binlog-reached.js';
import { type MysqlConnection, resolveEndpoint } from '../../../src/adapters/connectors/mysql/mysql-connection.js';
import { parseGtidSet } from '../../../src/adapters/connectors/mysql/mysql-gtid-set.js';
import type { PartSource } from '../../../src/application/ports/parts.js';
import type { Manifest } from '../../../src/domain/manifest.js';
import { binlogEvents } from '../../helpers/binlog-event.js';
import { payloadEvent, withoutChecksum } from '../../helpers/binlog-payload.js';

/**
 * MySQL 8 targets of `--replay-gtids keep` and `restore --changes-only`. No MySQL server runs on the
 * test machines: these check the decisions (skip or apply) and the statements the replay sends,
 * recorded by a fake connection, on MySQL-shaped events (the GTID event body captured from MySQL
 * 8.0.19, see mysql-binlog-events.test.ts) — not what a MySQL server does with them.
 */
const U = '5ccc1033-44a8-11ea-bd59-0242ac190003';
const mysqlTarget = (executed: string): TargetGtids => ({ flavor: 'mysql', executed: parseGtidSet(executed) });

const { ev } = binlogEvents();
const CAPTURED_GTID = Buffer.from('005ccc103344a811eabd590242ac1900037700000000000000027800000000000000790000000000000' + '06a30b13e78a005fcc3039338010000', 'hex');
function gtid(gno: number): Buffer {
  const body = Buffer.from(CAPTURED_GTID);
  body.writeBigUInt64LE(BigInt(gno), 17);
  return ev(EventType.MYSQL_GTID, body);
}
function query(db: string, sql: string): Buffer {
  const head = Buffer.alloc(13);
  head[8] = db.length;
  return ev(EventType.QUERY, Buffer.concat([head, Buffer.from(db), Buffer.from([0]), Buffer.from(sql)]));
}
const tableMap = () => ev(EventType.TABLE_MAP, Buffer.concat([Buffer.from([42, 0, 0, 0, 0, 0, 1, 0, 4]), Buffer.from('shop'), Buffer.from([0, 5]), Buffer.from('items'), Buffer.from([0, 1, 3, 0])]));
const rows = () => ev(EventType.WRITE_ROWS_V2, Buffer.from([42, 0, 0, 0, 0, 0, 1, 0, 2, 0, 1, 1, 0xfe, 7, 0, 0, 0]));
const xid = () => ev(EventType.XID, Buffer.from([9, 0, 0, 0, 0, 0, 0, 0]));
function formatDescription(): Buffer {
  const body = Buffer.alloc(2 + 50 + 4 + 1 + 40 + 1);
  body.writeUInt16LE(4, 0);
  body.write('8.0.36', 2, 'latin1');
  return ev(EventType.FORMAT_DESCRIPTION, body);
}
const transaction = (gno: number) => [gtid(gno), query('shop', 'BEGIN'), tableMap(), rows(), xid()];

/** A connection that records every statement and answers what the replay asks. */
function recorder(fail: (sql: string) => Error | undefined = () => undefined) {
  const sent: string[] = [];
  const conn = {
    connection: {},
    async query(sql: string) {
      sent.push(sql);
      const err = fail(sql);
      if (err) throw err;
      if (/max_allowed_packet/.test(sql)) return [[{ m: 64 << 20 }], []];
      if (/gtid_executed/.test(sql)) return [[{ s: `${U}:1-5,\n8a3b1d10-2222-11e1-9e33-c80aa9429562:1-2`, m: 'ON' }], []];
      return [[], []];
    },
  };
  return { conn: conn as unknown as MysqlConnection, sent };
}

/** What the replay sent after its setup, BINLOG statements abbreviated. */
async function replay(events: Buffer[], target: TargetGtids, skip = true): Promise<string[]> {
  const { conn, sent } = recorder();
  const applier = new BinlogApplier(conn, new Map([['shop', 'shop']]), undefined, 1, target);
  await applier.start();
  const skipper = skip ? new GtidSkipper(target) : undefined;
  const from = sent.length;
  for (const e of events) if (!skipper || skipper.pass(e)) await applier.event(e, 'test');
  await applier.finish();
  return sent.slice(from).map((s) => (s.startsWith('BINLOG ') ? 'BINLOG' : s.startsWith('SET TIMESTAMP = 1') ? 'SET TIMESTAMP' : s));
}

describe('MySQL targets: GTIDs skipped and carried (statement level only)', () => {
  it('skips what gtid_executed holds and carries the rest under SET GTID_NEXT, each committed alone, AUTOMATIC after', async () => {
    const events = [
      formatDescription(),
      ...transaction(5), // held: skipped whole
      ...transaction(6),
      gtid(7),
      query('shop', 'ALTER TABLE items ADD COLUMN n INT'), // a DDL is its own transaction
      gtid(8),
      query('other', 'CREATE TABLE x (i INT)'), // another database's: recorded as an empty transaction
      ...transaction(9),
    ];
    const reset = 'SET TIMESTAMP = DEFAULT, SESSION character_set_client = utf8mb4, SESSION collation_connection = utf8mb4_general_ci';
    expect(await replay(events, mysqlTarget(`${U}:1-5`))).toEqual([
      'BINLOG', // the FORMAT_DESCRIPTION
      `SET SESSION GTID_NEXT = '${U}:6'`,
      'BEGIN',
      'BINLOG',
      'COMMIT',
      "SET SESSION GTID_NEXT = 'AUTOMATIC'",
      `SET SESSION GTID_NEXT = '${U}:7'`,
      'SET TIMESTAMP',
      'USE `shop`',
      'ALTER TABLE items ADD COLUMN n INT',
      reset,
      "SET SESSION GTID_NEXT = 'AUTOMATIC'",
      `SET SESSION GTID_NEXT = '${U}:8'`,
      'BEGIN',
      'COMMIT',
      "SET SESSION GTID_NEXT = 'AUTOMATIC'",
      `SET SESSION GTID_NEXT = '${U}:9'`,
      'BEGIN',
      'BINLOG',
      'COMMIT',
      "SET SESSION GTID_NEXT = 'AUTOMATIC'",
    ]);
    // Everything held: only the FORMAT_DESCRIPTION goes.
    expect(await replay(events, mysqlTarget(`${U}:1-9`))).toEqual(['BINLOG']);
    // Without the skipper (after a full restored in the same run), held transactions replay with the target's own GTIDs, still one commit each.
    expect(await replay([formatDescription(), ...transaction(4), ...transaction(5)], mysqlTarget(`${U}:1-5`), false)).toEqual(['BINLOG', 'BEGIN', 'BINLOG', 'COMMIT', 'BEGIN', 'BINLOG', 'COMMIT']);
  });

  it("skips and carries MySQL 8's compressed transactions (GTID, then one TRANSACTION_PAYLOAD holding BEGIN … XID)", async () => {
    const payload = (gno: number) => [gtid(gno), payloadEvent(transaction(gno).slice(1).map((e) => withoutChecksum(Buffer.concat([e, Buffer.alloc(4)]))))];
    const out = await replay([formatDescription(), ...payload(5), ...payload(6), ...transaction(7)], mysqlTarget(`${U}:1-5`));
    expect(out).toEqual([
      'BINLOG',
      `SET SESSION GTID_NEXT = '${U}:6'`,
      'BEGIN',
      'BINLOG',
      'COMMIT',
      "SET SESSION GTID_NEXT = 'AUTOMATIC'",
      `SET SESSION GTID_NEXT = '${U}:7'`,
      'BEGIN',
      'BINLOG',
      'COMMIT',
      "SET SESSION GTID_NEXT = 'AUTOMATIC'",
    ]);
  });

  it('a MariaDB target neither skips nor carries MySQL GTIDs (and a MySQL target no MariaDB ones)', async () => {
    const maria: TargetGtids = { flavor: 'mariadb', state: parseGtidState('0-1-100') };
    expect(await replay([formatDescription(), ...transaction(5), ...transaction(6)], maria)).toEqual(['BINLOG', 'BEGIN', 'BINLOG', 'COMMIT', 'BEGIN', 'BINLOG', 'COMMIT']);
    const carry = new GtidCarry(mysqlTarget(`${U}:1-5`));
    expect(carry.before('0-1-101')).toEqual([]);
    expect(carry.carrying).toBe(false);
    expect(carry.before(`${U.toUpperCase()}:6`)).toEqual([`SET SESSION GTID_NEXT = '${U}:6'`]);
    expect(carry.before('0-1-101')).toEqual(["SET SESSION GTID_NEXT = 'AUTOMATIC'"]); // back to the target's own
    const mariaCarry = new GtidCarry(maria);
    expect(mariaCarry.before(`${U}:6`)).toEqual([]);
    expect(mariaCarry.before('0-1-101')).toEqual(['SET SESSION gtid_domain_id = 0, SESSION server_id = 1, SESSION gtid_seq_no = 101']);
    expect(mariaCarry.after(true)).toEqual([]); // MariaDB keeps them until a transaction that does not carry
  });

  it('reads a MySQL target: gtid_executed, gtid_mode, the right to set GTID_NEXT', async () => {
    const unknownVar = (sql: string) => (/gtid_binlog_state/.test(sql) ? Object.assign(new Error("Unknown system variable 'gtid_binlog_state'"), { errno: 1193 }) : undefined);
    const e = resolveEndpoint({ engine: 'mysql', host: '127.0.0.1', user: 'root', options: {} }, {});
    const ok = recorder(unknownVar);
    const plan = await gtidReplayPlan(ok.conn, e, '--changes-only');
    expect(plan).toMatchObject({ flavor: 'mysql', carry: true, notes: [] });
    expect(plan.state.flavor === 'mysql' && [...plan.state.executed.keys()]).toEqual([U, '8a3b1d10-2222-11e1-9e33-c80aa9429562']);
    expect(ok.sent).toEqual(['SELECT @@GLOBAL.gtid_binlog_state AS s, @@GLOBAL.gtid_slave_pos AS p, @@GLOBAL.log_bin AS b', 'SELECT @@GLOBAL.gtid_executed AS s, @@GLOBAL.gtid_mode AS m', "SET SESSION GTID_NEXT = 'AUTOMATIC'"]);
    const denied = recorder((sql) => unknownVar(sql) ?? (/GTID_NEXT/.test(sql) ? Object.assign(new Error('Access denied; you need SESSION_VARIABLES_ADMIN'), { errno: 1227 }) : undefined));
    expect(await gtidReplayPlan(denied.conn, e, '--changes-only')).toMatchObject({ flavor: 'mysql', carry: false, notes: [expect.stringMatching(/may not set GTID_NEXT \(Access denied.*GRANT SESSION_VARIABLES_ADMIN or SYSTEM_VARIABLES_ADMIN/)] });
    // --set-gtid-slave-pos on a MySQL target: nothing to set, and the plan says so (no statement that changes anything).
    const incremental = { id: 'inc1', kind: 'incremental', position: { to: { gtid: `${U}:1-9` } } } as unknown as Manifest;
    const set = recorder();
    expect(await planSlavePos(set.conn, { ...e, setGtidSlavePos: true, replayGtids: 'keep' }, incremental, { clean: false })).toMatch(/the target is MySQL, which has no gtid_slave_pos[^]*nothing is set/);
    expect(set.sent).toEqual(['SELECT VERSION() AS v']);
    await expect(planSlavePos(set.conn, { ...e, setGtidSlavePos: true }, incremental, { clean: false })).rejects.toMatchObject({ code: 'E_USAGE' });
    const none = recorder((sql) => (/@@GLOBAL/.test(sql) ? new Error('Unknown system variable') : undefined));
    expect(await gtidReplayPlan(none.conn, e)).toMatchObject({ flavor: undefined, carry: false, notes: [expect.stringMatching(/the target has no GTIDs/)] });
  });
});

describe('MySQL targets: the --changes-only planner (index part only)', () => {
  const line = (gno: number | string, end: number, tables = ['shop.items']) =>
    JSON.stringify({ part: 'changes/000001.binlog', offset: end - 100, end, file: 'binlog.000002', pos: end, gtid: typeof gno === 'number' ? `${U}:${gno}` : gno, time: 1583813190, tables });
  const link = (lines: string[], from = `${U}:1-5`, to = `${U}:1-10`): PartSource => ({
    manifest: { id: 'inc1', parts: [{ name: 'changes/index.jsonl' }], position: { from: { gtid: from }, to: { gtid: to } } } as unknown as Manifest,
    open: async () => Readable.from([`${JSON.stringify({ format: 'dbbackup-mysql-binlog-index', version: 1 })}\n`, ...lines.map((l) => `${l}\n`)]),
  });
  const ours = (t: string) => t.startsWith('shop');
  const chain = link([line(6, 100), line(7, 200), line(8, 300, ['other.x']), line(9, 400), line(10, 500)]);

  it('counts the transactions of the backup’s databases the target holds (skipped) and lacks (applied)', async () => {
    expect(await countOnto(chain, mysqlTarget(`${U}:1-7`), undefined, ours, false)).toEqual({ applied: 2, skipped: 2 });
    expect(await countOnto(chain, mysqlTarget(`${U}:1-5`), undefined, ours, false)).toEqual({ applied: 4, skipped: 0 });
    expect(await countOnto(chain, mysqlTarget(`${U}:1-10`), undefined, ours, false)).toEqual({ applied: 0, skipped: 4 });
    // A gap the target holds past (9 applied elsewhere): only what it lacks.
    expect(await countOnto(chain, mysqlTarget(`${U}:1-6:9`), undefined, ours, false)).toEqual({ applied: 2, skipped: 2 });
    // Up to a stop (after GTID 7's transaction).
    expect(await countOnto(chain, mysqlTarget(`${U}:1-6`), { part: 'changes/000001.binlog', end: 200 }, ours, false)).toEqual({ applied: 1, skipped: 1 });
    expect(await countOnto(chain, mysqlTarget(`${U}:1-6`), 'nothing', ours, false)).toEqual({ applied: 0, skipped: 0 });
  });

  it('refuses a target it cannot place: no GTID of the source, behind the chain, or a chain without MySQL GTIDs', async () => {
    await expect(countOnto(chain, mysqlTarget('8a3b1d10-2222-11e1-9e33-c80aa9429562:1-99'), undefined, ours, false)).rejects.toMatchObject({
      code: 'E_TARGET_STATE',
      message: expect.stringMatching(new RegExp(`holds no GTID of source ${U} \\(its gtid_executed has none\\)[^]*SET GLOBAL gtid_purged`)),
    });
    await expect(countOnto(chain, mysqlTarget(`${U}:1-3`), undefined, ours, false)).rejects.toMatchObject({ code: 'E_TARGET_STATE', message: expect.stringMatching(new RegExp(`behind the chain: its gtid_executed lacks ${U}:4-5`)) });
    // …unless the previous link of this run ended where this one starts.
    expect(await countOnto(chain, mysqlTarget(`${U}:1-3`), undefined, ours, true)).toEqual({ applied: 4, skipped: 0 });
    await expect(countOnto(link([line('0-1-6', 100)]), mysqlTarget(`${U}:1-5`), undefined, ours, false)).rejects.toMatchObject({ code: 'E_TARGET_STATE', message: expect.stringMatching(/without a MySQL GTID/) });
  });

  it('reports the GTID set the replay reaches: the link’s end, or its start with every transaction up to the stop', async () => {
    expect(await reachedGtids(chain, undefined)).toBe(`${U}:1-10`);
    expect(await reachedGtids(chain, { part: 'changes/000001.binlog', end: 300 })).toBe(`${U}:1-8`);
    expect(await reachedGtids(chain, 'nothing')).toBe(`${U}:1-5`);
  });
});
