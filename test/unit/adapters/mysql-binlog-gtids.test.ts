import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EventType, BINLOG_MAGIC, readHeader } from '../../../src/adapters/connectors/mysql/mysql-binlog-events.js';
import { GtidSkipper, holds, knowsDomain, parseGtidState, parseGtids } from '../../../src/adapters/connectors/mysql/mysql-binlog-gtids.js';

/** The captured MariaDB 10.11 log of mysql-binlog-events.test.ts: GTIDs 0-7-1 … 0-7-5 (DDL, DDL, INSERT, BEGIN UPDATE DELETE COMMIT, DDL). */
const file = readFileSync(join(import.meta.dirname, 'fixtures', 'mariadb-10.11.binlog'));
const all: Buffer[] = [];
for (let i = BINLOG_MAGIC.length; i < file.length; i += file.readUInt32LE(i + 9)) all.push(file.subarray(i, i + file.readUInt32LE(i + 9)));

/** The types of the events the skipper lets through, from the first GTID on (what comes before is the file's preamble). */
function passed(state: string): { types: number[]; skipped: number } {
  const s = new GtidSkipper({ flavor: 'mariadb', state: parseGtidState(state) });
  const kept = all.filter((e) => s.pass(e));
  const first = kept.findIndex((e) => readHeader(e).type === EventType.MARIADB_GTID);
  return { types: (first < 0 ? [] : kept.slice(first)).map((e) => readHeader(e).type), skipped: s.skipped };
}

describe('MariaDB GTID state and skipping held transactions', () => {
  it('parses gtid_binlog_state per domain and server id, the highest sequence number of each', () => {
    const state = parseGtidState('0-1-100, 0-2-7,5-77-1001,0-1-90,junk');
    expect([...state]).toEqual([['0-1', 100n], ['0-2', 7n], ['5-77', 1001n]]);
    expect(holds(state, { domain: 0, server: 1, seq: 100n })).toBe(true);
    expect(holds(state, { domain: 0, server: 1, seq: 101n })).toBe(false);
    expect(holds(state, { domain: 0, server: 3, seq: 1n })).toBe(false); // another server's own GTIDs say nothing
    expect(parseGtidState('').size).toBe(0);
  });

  it("adds a replica's position per domain: every GTID of the domain up to it is held, whichever server wrote it", () => {
    const state = parseGtidState('0-3-40,7-1-12', parseGtidState('0-2-7'), true);
    expect([...state]).toEqual([['0-2', 7n], ['0', 40n], ['7', 12n]]);
    expect(holds(state, { domain: 0, server: 1, seq: 40n })).toBe(true);
    expect(holds(state, { domain: 0, server: 1, seq: 41n })).toBe(false);
    expect(holds(state, { domain: 0, server: 2, seq: 7n })).toBe(true);
    expect(knowsDomain(state, 7, [9])).toBe(true);
    expect(knowsDomain(parseGtidState('0-2-7'), 0, [1])).toBe(false); // the target's own writes in the domain say nothing of server 1's
    expect(knowsDomain(parseGtidState('0-2-7'), 0, [1, 2])).toBe(true);
    expect(parseGtids('0-1-5, x, 7-2-9')).toEqual([{ domain: 0, server: 1, seq: 5n }, { domain: 7, server: 2, seq: 9n }]);
  });

  it('drops whole transactions the target holds (standalone statements and BEGIN … COMMIT groups) and passes the rest', () => {
    const everything = passed('');
    expect(everything.skipped).toBe(0);
    expect(everything.types.filter((t) => t === EventType.MARIADB_GTID)).toHaveLength(5);
    // Held up to 0-7-3: the two DDL and the INSERT's group go, the UPDATE/DELETE group and the last DDL stay whole.
    const upTo3 = passed('0-7-3');
    expect(upTo3.skipped).toBe(3);
    expect(upTo3.types[0]).toBe(EventType.MARIADB_GTID);
    expect(upTo3.types.filter((t) => t === EventType.MARIADB_GTID)).toHaveLength(2);
    expect(upTo3.types.filter((t) => t === EventType.TABLE_MAP)).toHaveLength(2);
    // MariaDB's GTID event opens a group itself (no BEGIN query): GTID, TABLE_MAP, rows …, XID; then GTID, the ALTER.
    expect(upTo3.types.filter((t) => t === EventType.XID)).toHaveLength(1);
    expect(upTo3.types.filter((t) => t === EventType.QUERY)).toHaveLength(1);
    const all5 = passed('0-7-5,0-8-99');
    expect(all5.skipped).toBe(5);
    expect(all5.types).toEqual([]);
    // Another server id in the same domain holds nothing of server 7's.
    expect(passed('0-8-99').skipped).toBe(0);
  });
});
