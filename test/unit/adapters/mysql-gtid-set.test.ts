import { describe, expect, it } from 'vitest';
import { addGtidTo, containsGtid, formatGtidSet, parseGtidSet, parseMysqlGtid, subtractGtidSet } from '../../../src/adapters/connectors/mysql/mysql-gtid-set.js';

/** MySQL GTID sets as @@GLOBAL.gtid_executed prints them (the example of MySQL's manual, and the shapes of a real server's output). */
const A = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const B = '8a3b1d10-2222-11e1-9e33-c80aa9429562';

describe('MySQL GTID sets', () => {
  it("parses gtid_executed as the server prints it: upper case, newlines after commas, intervals out of order and touching", () => {
    const set = parseGtidSet(`${A.toUpperCase()}:1-5:11-18:6,\n${B}:1-2`);
    expect([...set]).toEqual([
      [A, [[1n, 6n], [11n, 18n]]],
      [B, [[1n, 2n]]],
    ]);
    expect(formatGtidSet(set)).toBe(`${A}:1-6:11-18,${B}:1-2`);
    expect(parseGtidSet('').size).toBe(0);
    expect(parseGtidSet(' \n ').size).toBe(0);
    // The same uuid twice (as two servers' sets joined) merges.
    expect(formatGtidSet(parseGtidSet(`${A}:1-3,${A}:4-9:20`))).toBe(`${A}:1-9:20`);
  });

  it('keeps MySQL 8.4 tagged intervals under uuid:tag', () => {
    const set = parseGtidSet(`${A}:1-5:audit:1-3:7`);
    expect([...set.keys()]).toEqual([A, `${A}:audit`]);
    expect(containsGtid(set, `${A}:audit:7`)).toBe(true);
    expect(containsGtid(set, `${A}:7`)).toBe(false);
    expect(formatGtidSet(set)).toBe(`${A}:1-5:audit:1-3:7`);
  });

  it('refuses what is not a GTID set, naming the item', () => {
    expect(() => parseGtidSet('0-1-100')).toThrow(/not a MySQL GTID set item: "0-1-100"/);
    expect(() => parseGtidSet(`${A}:5-3`)).toThrow(/not a MySQL GTID interval: "5-3"/);
    expect(() => parseGtidSet(`${A}:0-3`)).toThrow(/interval/);
    expect(() => parseGtidSet(`${A}:1-x`)).toThrow(/interval/);
  });

  it('tells whether a set contains a GTID, at interval edges and across case', () => {
    const set = parseGtidSet(`${A}:1-5:11-18,${B}:1-2`);
    for (const n of [1, 5, 11, 18]) expect(containsGtid(set, `${A}:${n}`)).toBe(true);
    for (const n of [6, 10, 19]) expect(containsGtid(set, `${A}:${n}`)).toBe(false);
    expect(containsGtid(set, `${B.toUpperCase()}:2`)).toBe(true);
    expect(containsGtid(set, 'aaaaaaaa-0000-0000-0000-000000000000:1')).toBe(false);
    expect(containsGtid(set, '0-1-1')).toBe(false); // a MariaDB GTID is never in a MySQL set
    expect(parseMysqlGtid(`${A}:0`)).toBeUndefined();
    expect(parseMysqlGtid(`${A}:12`)).toEqual({ key: A, gno: 12n });
  });

  it('adds a GTID, merging with its neighbours', () => {
    const set = parseGtidSet(`${A}:1-5:7-9`);
    expect(formatGtidSet(addGtidTo(set, `${A}:6`))).toBe(`${A}:1-9`);
    expect(formatGtidSet(addGtidTo(set, `${B}:4`))).toBe(`${A}:1-9,${B}:4`);
    expect(formatGtidSet(addGtidTo(set, `${B}:3`))).toBe(`${A}:1-9,${B}:3-4`);
    expect(formatGtidSet(addGtidTo(set, 'junk'))).toBe(`${A}:1-9,${B}:3-4`);
  });

  it('subtracts sets: what the first holds that the second lacks', () => {
    const a = parseGtidSet(`${A}:1-20,${B}:1-5`);
    expect(formatGtidSet(subtractGtidSet(a, parseGtidSet(`${A}:1-5:8:15-30`)))).toBe(`${A}:6-7:9-14,${B}:1-5`);
    expect(formatGtidSet(subtractGtidSet(a, parseGtidSet(`${A}:1-20,${B}:1-9`)))).toBe('');
    expect(formatGtidSet(subtractGtidSet(a, new Map()))).toBe(`${A}:1-20,${B}:1-5`);
    expect(formatGtidSet(subtractGtidSet(parseGtidSet(`${A}:1-10`), parseGtidSet(`${A}:3-4:6`)))).toBe(`${A}:1-2:5:7-10`);
    // The input sets are left as they were.
    expect(formatGtidSet(a)).toBe(`${A}:1-20,${B}:1-5`);
  });
});
