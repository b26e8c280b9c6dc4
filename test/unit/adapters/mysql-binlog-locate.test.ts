import { describe, expect, it } from 'vitest';
import { addGtid, binlogTarget, gtidReached, locateBinlogTarget } from '../../../src/adapters/connectors/mysql/mysql-binlog-locate.js';
import type { Manifest } from '../../../src/domain/manifest.js';

/** Where restore --at-gtid / --at-position stops, from the manifests alone (MySQL 8 GTID sets cannot be run here). */
const UUID = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const link = (id: string, file: string, position: number, gtid: string) => ({ id, logPosition: { file, position, gtid, flavor: 'mysql' } }) as unknown as Manifest;

describe('binlog restore points', () => {
  it('reads MySQL GTID sets with several ranges and uuids', () => {
    const state = `${UUID}:1-5:7-9,aaaaaaaa-0000-0000-0000-000000000000:1-3`;
    expect(gtidReached(state, `${UUID}:5`)).toBe(true);
    expect(gtidReached(state, `${UUID}:6`)).toBe(false);
    expect(gtidReached(state, `${UUID}:9`)).toBe(true);
    expect(gtidReached(state, `${UUID.toUpperCase()}:8`.toLowerCase())).toBe(true);
    expect(gtidReached(state, 'aaaaaaaa-0000-0000-0000-000000000000:4')).toBe(false);
    expect(gtidReached('0-1-57,1-2-3', '0-1-57')).toBe(true);
    expect(gtidReached('0-1-57,1-2-3', '1-2-4')).toBe(false);
  });

  it('adds a transaction to a GTID state as the server would (replicate\'s segments carry it)', () => {
    expect(addGtid('0-1-57,1-2-3', '0-1-58')).toBe('0-1-58,1-2-3');
    expect(addGtid('1-2-3', '0-5-1')).toBe('0-5-1,1-2-3');
    expect(addGtid(undefined, '0-1-1')).toBe('0-1-1');
    expect(addGtid(`${UUID}:1-5:7-9`, `${UUID}:6`)).toBe(`${UUID}:1-9`);
    expect(addGtid(`${UUID}:1-5`, `${UUID}:7`)).toBe(`${UUID}:1-5:7`);
    expect(addGtid(`${UUID}:1-5`, `${UUID}:3`)).toBe(`${UUID}:1-5`);
    expect(addGtid(`${UUID}:2-5`, `${UUID}:1`)).toBe(`${UUID}:1-5`);
    expect(addGtid(`${UUID}:1-5`, 'aaaaaaaa-0000-0000-0000-000000000000:1')).toBe(`${UUID}:1-5,aaaaaaaa-0000-0000-0000-000000000000:1`);
    expect(gtidReached(addGtid(`${UUID}:1-5`, `${UUID}:7`), `${UUID}:7`)).toBe(true);
  });

  it('finds the link a MySQL GTID or a position is in; the full point is 0; outside: E_NO_RESTORE_POINT', () => {
    const chain = [link('full', 'binlog.000001', 400, `${UUID}:1-10`), link('inc1', 'binlog.000002', 900, `${UUID}:1-20`), link('inc2', 'binlog.000003', 120, `${UUID}:1-25`)];
    expect(locateBinlogTarget(chain, { gtid: `${UUID}:10` })).toBe(0);
    expect(locateBinlogTarget(chain, { gtid: `${UUID}:11` })).toBe(1);
    expect(locateBinlogTarget(chain, { gtid: `${UUID}:25` })).toBe(2);
    expect(locateBinlogTarget(chain, { position: 'binlog.000002:901' })).toBe(2);
    expect(locateBinlogTarget(chain, { position: 'binlog.000002:900' })).toBe(1);
    expect(locateBinlogTarget(chain, { position: 'binlog.000001:400' })).toBe(0);
    for (const at of [{ gtid: `${UUID}:9` }, { gtid: `${UUID}:26` }, { position: 'binlog.000001:399' }, { position: 'binlog.000003:121' }]) {
      expect(() => locateBinlogTarget(chain, at)).toThrow(expect.objectContaining({ code: 'E_NO_RESTORE_POINT' }));
    }
  });

  it('refuses malformed points with E_USAGE', () => {
    for (const at of [{ gtid: '0-1' }, { gtid: 'x:1' }, { position: 'binlog:4' }, { position: 'binlog.000001' }]) {
      expect(() => binlogTarget(at)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    }
  });
});
