import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type MariaDbServer, startMariaDb } from '../helpers/mariadb-server.js';
import { tempDir } from '../helpers/temp.js';
import { showCreateAll, tableFingerprints } from '../integration/mysql/harness.js';

/** The built CLI (`npm run build` first): incremental backups from MariaDB's binary log and restore --at. */
describe('dbbackup backup --type incremental / restore --at with --db mysql (MariaDB)', () => {
  let server: MariaDbServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[]) => runCli(args, { env, cwd: dir.path });

  beforeAll(async () => {
    server = await startMariaDb();
    dir = await tempDir('mysql-cap-e2e-');
    env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), MYSQL_PWD: '' };
    await server.query(String.raw`
      CREATE DATABASE shop CHARACTER SET utf8mb4;
      CREATE TABLE shop.items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50), price DECIMAL(9,2));
      CREATE TABLE shop.log (id INT PRIMARY KEY, msg TEXT) CHARACTER SET latin1;
      USE shop;
      CREATE TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW INSERT INTO log VALUES (NEW.id + 100, NEW.name);
      INSERT INTO shop.items (name, price) VALUES ('tea', 3.50), ('naïve', NULL);`);
  });
  afterAll(async () => {
    await server?.stop();
    await dir?.cleanup();
  });

  const backup = async (...args: string[]) => {
    const r = await cli(['backup', '--db', 'mysql', '--url', server.url('shop'), '--out', 'chain', '--json', ...args]);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { manifest: { id: string; kind: string; logPosition: Record<string, unknown>; restorable: { from: string; to: string }; consistentAt: string } }).manifest;
  };

  /** The server's time now, once the binlog's second of it is over (binlog times are whole seconds). */
  const instant = async (): Promise<string> => {
    const [row] = await server.query<{ t: string }>('SELECT UNIX_TIMESTAMP(NOW(3)) AS t');
    const at = Number(row!.t);
    while (Number((await server.query<{ t: string }>('SELECT UNIX_TIMESTAMP() AS t'))[0]!.t) <= Math.floor(at)) await new Promise((r) => setTimeout(r, 50));
    return new Date(Math.round(at * 1000)).toISOString();
  };

  it('chains incrementals to a full and restores the state at an instant between them', async () => {
    const full = await backup();
    expect(full.logPosition).toMatchObject({ file: expect.stringMatching(/^binlog\.\d+$/), position: expect.any(Number), gtid: expect.stringMatching(/^\d+-1-\d+$/) });
    await server.query("INSERT INTO shop.items (name, price) VALUES ('cake', 4.25); UPDATE shop.items SET price = 3.75 WHERE id = 1;");
    const between = await instant();
    const expected = { tables: await tableFingerprints(server, 'shop'), objects: await showCreateAll(server, 'shop') };
    await server.query("DELETE FROM shop.items WHERE id = 2; ALTER TABLE shop.items ADD COLUMN stock INT NOT NULL DEFAULT 0; INSERT INTO shop.items (name, stock) VALUES ('jam', 5);");
    const inc = await backup('--type', 'incremental');
    expect(inc.kind).toBe('incremental');
    expect(inc.restorable).toEqual({ from: full.consistentAt, to: inc.consistentAt });

    const dry = await cli(['restore', '--from', 'chain', '--at', between, '--db', 'mysql', '--url', server.url('shop_at'), '--create', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout + dry.stderr).toMatch(/replays the binary log of the backup's databases/);

    const r = await cli(['restore', '--from', 'chain', '--at', between, '--db', 'mysql', '--url', server.url('shop_at'), '--create']);
    expect(r.code, r.stderr).toBe(0);
    expect(await tableFingerprints(server, 'shop_at')).toEqual(expected.tables);
    expect(await showCreateAll(server, 'shop_at')).toEqual(expected.objects);

    const latest = await cli(['restore', '--from', 'chain', '--db', 'mysql', '--url', server.url('shop_now'), '--create', '--replay-connections', '3']);
    expect(latest.code, latest.stderr).toBe(0);
    expect(await tableFingerprints(server, 'shop_now')).toEqual(await tableFingerprints(server, 'shop'));

    const picked = await cli(['restore', '--from', 'chain', '--db', 'mysql', '--url', server.url('shop_t'), '--create', '--tables', 'items']);
    // The chain holds an ALTER TABLE: a replay limited to chosen tables cannot follow it.
    expect(picked.code).toBe(2);
    expect(picked.stderr).toMatch(/E_UNSUPPORTED.*without --tables/);
  });

  it('restores up to a GTID (--at-gtid) or a binary log position (--at-position) across two incrementals; outside the chain: E_NO_RESTORE_POINT', async () => {
    await server.query('CREATE DATABASE ledger; CREATE TABLE ledger.t (id INT PRIMARY KEY, v INT); INSERT INTO ledger.t VALUES (1, 1), (2, 2);');
    const out = ['--db', 'mysql', '--url', server.url('ledger'), '--out', 'gchain', '--json'];
    const take = async (...args: string[]) => {
      const r = await cli(['backup', ...out, ...args]);
      expect(r.code, r.stderr).toBe(0);
    };
    const point = async () => {
      const [g] = await server.query<{ g: string }>('SELECT @@GLOBAL.gtid_binlog_pos AS g');
      const [s] = await server.query<{ File: string; Position: number }>('SHOW MASTER STATUS');
      return { gtid: g!.g, position: `${s!.File}:${s!.Position}`, tables: await tableFingerprints(server, 'ledger') };
    };
    const restoreTo = (db: string, ...flags: string[]) => cli(['restore', '--from', 'gchain', '--db', 'mysql', '--url', server.url(db), '--create', ...flags]);

    await take();
    const inFull = await point();
    await server.query('INSERT INTO ledger.t VALUES (3, 3)');
    const p1 = await point();
    await server.query('UPDATE ledger.t SET v = v * 10');
    const p2 = await point();
    await server.query('DELETE FROM ledger.t WHERE id = 1');
    await take('--type', 'incremental');
    await server.query('INSERT INTO ledger.t VALUES (4, 4), (5, 5)');
    const p4 = await point();
    await server.query('UPDATE ledger.t SET v = 0 WHERE id = 5');
    await take('--type', 'incremental');
    const end = await point();
    expect(new Set([p1.gtid, p2.gtid, p4.gtid]).size).toBe(3);

    for (const [db, flags, want] of [
      ['l_g2', ['--at-gtid', p2.gtid], p2],
      ['l_g4', ['--at-gtid', p4.gtid], p4],
      ['l_p1', ['--at-position', p1.position], p1],
      ['l_p4', ['--at-position', p4.position], p4],
    ] as const) {
      const r = await restoreTo(db, ...flags);
      expect(r.code, `${flags.join(' ')}: ${r.stderr}`).toBe(0);
      expect(await tableFingerprints(server, db), flags.join(' ')).toEqual(want.tables);
    }

    // The full's own point restores the full; a GTID inside the full, or past the chain, is no restore point.
    const atFull = await restoreTo('l_full', '--at-gtid', inFull.gtid);
    expect(atFull.code, atFull.stderr).toBe(0);
    expect(await tableFingerprints(server, 'l_full')).toEqual(inFull.tables);
    const seq = Number(inFull.gtid.split('-')[2]);
    for (const gtid of [`0-1-${seq - 1}`, `0-1-${seq + 1000}`]) {
      const r = await restoreTo('l_none', '--at-gtid', gtid);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^error E_NO_RESTORE_POINT: GTID ${gtid} is not in the chain of backup .*, which restores from binlog\\.\\d+:\\d+ to `));
    }
    const far = await restoreTo('l_none', '--at-position', 'binlog.999999:4');
    expect(far.code, far.stderr).toBe(1);
    expect(far.stderr).toMatch(/E_NO_RESTORE_POINT: binlog\.999999:4 is not in the chain/);
    expect(await server.query("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'l_none'")).toEqual([]);

    const both = await restoreTo('l_none', '--at-gtid', p1.gtid, '--at', 'latest');
    expect(both.code).toBe(2);
    const bad = await restoreTo('l_none', '--at-position', 'nocolon');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/E_USAGE: --at-position takes FILE:POS/);

    // --changes-only onto the source database itself: its server holds every GTID of the chain, so nothing would apply.
    const onto = (...flags: string[]) => cli(['restore', '--from', 'gchain', '--db', 'mysql', '--url', server.url('ledger'), '--changes-only', ...flags]);
    const dryOnto = await onto('--dry-run', '--json');
    expect(dryOnto.code, dryOnto.stderr).toBe(0);
    const reached = end.gtid; // the chain's end (the restores above wrote the server's log after it)
    expect(JSON.parse(dryOnto.stdout)).toMatchObject({ ok: true, dryRun: true, changesOnly: true, transactions: { applied: 0, skipped: 5 }, logPosition: reached });
    const human = await onto();
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^Replayed the changes of \S+ → \S+ onto .*: 0 transaction\(s\) applied, 5 skipped/);
    expect(human.stdout).toContain(`the source's log position reached: ${reached}.`);
    // --set-gtid-slave-pos: the dry run says what it will set.
    const drySet = await onto('--dry-run', '--set-gtid-slave-pos');
    expect(drySet.code, drySet.stderr).toBe(0);
    expect(drySet.stdout).toContain(`--set-gtid-slave-pos: once the replay succeeded, the target's gtid_slave_pos is set to the GTID position it reached (the chain's end: ${reached}`);
    const clean = await onto('--clean');
    expect(clean.code).toBe(2);
    expect(clean.stderr).toMatch(/E_USAGE: --changes-only applies changes onto the target as it is/);
  });

  it('--at-gtid on an engine without log positions (SQLite) is refused as unsupported', async () => {
    const sqlite = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { exec(sql: string): void; close(): void };
    const db = new sqlite(join(dir.path, 'src.db'));
    db.exec('CREATE TABLE t (x INT); INSERT INTO t VALUES (1);');
    db.close();
    const b = await cli(['backup', '--db', 'sqlite', '--file', 'src.db', '--out', 'sq']);
    expect(b.code, b.stderr).toBe(0);
    const r = await cli(['restore', '--from', 'sq', '--db', 'sqlite', '--database', 'out.db', '--at-gtid', '0-1-5']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^error E_UNSUPPORTED: sqlite restores cannot stop at a log position \(--at-gtid, --at-position\); use --at TIME\./);
  });
});
