// Which bound a MySQL "Lock wait timeout exceeded" (errno 1205) hit, and what its E_LOCK_TIMEOUT
// says: a metadata lock's wait names --lock-wait-timeout (the session's lock_wait_timeout); an
// InnoDB row lock's, on a statement that writes rows, names innodb_lock_wait_timeout. The holder's
// lookup finds no server here (a closed port), so the messages are the ones without it.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { resolveEndpoint } from '../../../src/adapters/connectors/mysql/mysql-connection.js';
import { lockWaitFailure, rowLockingTable } from '../../../src/adapters/connectors/mysql/mysql-lock-wait.js';

/** A 1205 as mysql2 gives it, with the statement that waited. */
const timeout = (sql: string) => Object.assign(new Error('Lock wait timeout exceeded; try restarting transaction'), { code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205, sql });

/** A port on 127.0.0.1 nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('rowLockingTable', () => {
  it('names the table a row-writing statement writes, unquoted; undefined for a statement that takes no row locks', () => {
    expect(rowLockingTable(timeout("LOAD DATA LOCAL INFILE 'dbbackup-part' INTO TABLE `copy`.`t` CHARACTER SET binary (`i`, `v`)"))).toBe('copy.t');
    expect(rowLockingTable(timeout('INSERT INTO `a``b`.`t 1` (`i`) VALUES (?)'))).toBe('a`b.t 1');
    expect(rowLockingTable(timeout('  /* note */ replace into app.u values (1)'))).toBe('app.u');
    expect(rowLockingTable(timeout('UPDATE IGNORE `app`.`u` SET v = 1'))).toBe('app.u');
    expect(rowLockingTable(timeout('DELETE FROM u WHERE i = 1'))).toBe('u');
    expect(rowLockingTable(timeout('SELECT * FROM u WHERE i = 1 FOR UPDATE'))).toBeNull();
    for (const sql of ['DROP TABLE IF EXISTS `copy`.`t`', 'FLUSH TABLES WITH READ LOCK', 'SELECT `i` FROM `app`.`t`', 'SHOW CREATE TABLE `app`.`t`', '/*!50003 CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.i = 1 */', 'CREATE TABLE t (i INT) SELECT 1 AS i FOR UPDATE x']) {
      expect(rowLockingTable(timeout(sql)), sql).toBeUndefined();
    }
    expect(rowLockingTable(Object.assign(new Error('x'), { errno: 1205 }))).toBeUndefined();
  });
});

describe('lockWaitFailure', () => {
  it('a metadata lock wait (a DROP, a read) names --lock-wait-timeout; a row write\'s row-lock wait names innodb_lock_wait_timeout and how to raise it', async () => {
    const e = resolveEndpoint({ engine: 'mysql', host: '127.0.0.1', port: await closedPort(), user: 'root', options: { lockWaitTimeout: '2s' } }, {});
    const ddl = (await lockWaitFailure(timeout('DROP TABLE IF EXISTS `copy`.`t`'), e, ['copy'], e.lockWaitMs, 'restore')) as Error & { code: string; details: unknown };
    expect(ddl.code).toBe('E_LOCK_TIMEOUT');
    expect(ddl.message).toMatch(/^The restore into root@127\.0\.0\.1:\d+ waited 2s \(--lock-wait-timeout\) for a lock on a table, which another session holds\. The target is marked as not completely restored; .*raise --lock-wait-timeout .*restore again with --clean\.$/);
    expect(ddl.message).not.toContain('innodb');

    const row = (await lockWaitFailure(timeout("LOAD DATA LOCAL INFILE 'dbbackup-part' INTO TABLE `copy`.`t` (`i`)"), e, ['copy'], e.lockWaitMs, 'restore')) as Error & { code: string; details: unknown };
    expect(row.code).toBe('E_LOCK_TIMEOUT');
    expect(row.message).toMatch(
      /^The restore into root@127\.0\.0\.1:\d+ waited innodb_lock_wait_timeout for a row lock on table copy\.t: another transaction holds a lock on a row it writes .*The target is marked as not completely restored; commit or end that transaction .*SET GLOBAL innodb_lock_wait_timeout = N.*--lock-wait-timeout bounds metadata locks only\), then restore again with --clean\.$/,
    );
    expect(row.message).not.toContain('2s');
    expect(row.details).toEqual({ table: 'copy.t', lock: 'row' });

    const backup = (await lockWaitFailure(timeout('SELECT `i` FROM `app`.`t`'), e, ['app'], e.lockWaitMs)) as Error;
    expect(backup.message).toMatch(/^The backup of root@127\.0\.0\.1:\d+ waited 2s \(--lock-wait-timeout\) for a lock on a table, which another session holds\. Nothing was recorded;/);

    const other = new Error('Duplicate entry');
    expect(await lockWaitFailure(other, e, ['app'], e.lockWaitMs)).toBe(other);
  });
});
