import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { tempDir } from '../../helpers/temp.js';
import { backup, restore, target } from './harness.js';

/*
 * A restore under another name (--target-database) on the same server as the source: routines,
 * triggers, events and views whose bodies name the source database (`shop`.t, shop.t) must work on
 * the copy, never on the original. The qualifiers are rewritten; a name inside a string literal
 * (dynamic SQL) cannot be and is reported.
 */
let server: MariaDbServer;
let dir: Awaited<ReturnType<typeof tempDir>>;
let conn: mysql.Connection;

const SOURCE = `
CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(40));
CREATE TABLE item (id INT PRIMARY KEY, qty INT);
INSERT INTO item VALUES (1, 10);
CREATE PROCEDURE note_it(IN w VARCHAR(40)) MODIFIES SQL DATA INSERT INTO \`shop\`.log (what) VALUES (w);
CREATE FUNCTION stock(i INT) RETURNS INT READS SQL DATA RETURN (SELECT qty FROM shop.item WHERE id = i);
CREATE TRIGGER item_upd AFTER UPDATE ON item FOR EACH ROW INSERT INTO shop.log (what) VALUES (CONCAT('shop.item ', NEW.id));
CREATE VIEW item_view AS SELECT i.id, shop.stock(i.id) AS s FROM \`shop\`.\`item\` i;
CREATE EVENT tidy ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM shop.log WHERE id < 0;
CREATE PROCEDURE dynamic_sql() MODIFIES SQL DATA BEGIN PREPARE s FROM 'INSERT INTO shop.log (what) VALUES (''dyn'')'; EXECUTE s; END;
`;

beforeAll(async () => {
  server = await startMariaDb();
  dir = await tempDir();
  conn = await server.connect();
  await conn.query('CREATE DATABASE shop');
  await conn.query(`USE shop; ${SOURCE}`);
});

afterAll(async () => {
  await conn?.end();
  await server?.stop();
  await dir?.cleanup();
});

async function count(db: string): Promise<number> {
  const [rows] = await conn.query(`SELECT COUNT(*) AS n FROM \`${db}\`.log`);
  return Number((rows as { n: number }[])[0]!.n);
}

describe('MySQL restore under another database name: bodies naming the source database', () => {
  it('rewrites the qualifiers in procedures, functions, triggers, views and events; the copy never touches the original', async () => {
    const repo = join(dir.path, 'repo');
    await backup(dir.path, { target: target(server, 'shop'), repository: repo });
    const result = await restore(dir.path, { target: target(server, 'shop', { targetDatabase: 'shop copy', create: true }), repository: repo });
    const notes = result.outcome?.warnings?.join('\n') ?? '';

    await conn.query("CALL `shop copy`.note_it('via copy')");
    await conn.query('UPDATE `shop copy`.item SET qty = 5 WHERE id = 1');
    expect(await count('shop')).toBe(0);
    expect(await count('shop copy')).toBe(2);
    const [view] = await conn.query('SELECT s FROM `shop copy`.item_view');
    expect((view as { s: number }[])[0]!.s).toBe(5);

    const show = async (sql: string, column: string) => String(((await conn.query(sql))[0] as Record<string, string>[])[0]![column]);
    expect(await show('SHOW CREATE PROCEDURE `shop copy`.note_it', 'Create Procedure')).toContain('INSERT INTO `shop copy`.log');
    expect(await show('SHOW CREATE FUNCTION `shop copy`.stock', 'Create Function')).toContain('FROM `shop copy`.item');
    const trigger = await show('SHOW CREATE TRIGGER `shop copy`.item_upd', 'SQL Original Statement');
    expect(trigger).toContain('INSERT INTO `shop copy`.log');
    expect(trigger).toContain("CONCAT('shop.item ', NEW.id)"); // a string literal is data: unchanged
    expect(await show('SHOW CREATE EVENT `shop copy`.tidy', 'Create Event')).toContain('DELETE FROM `shop copy`.log');
    expect(await show('SHOW CREATE VIEW `shop copy`.item_view', 'Create View')).not.toMatch(/`shop`\./);

    // A string literal naming the database (dynamic SQL, or data that looks like it) is not rewritten, and said so.
    const line = notes.split('\n').find((n) => n.startsWith('Restored as shop copy, ')) ?? '';
    expect(line).toMatch(/still name the database shop in their bodies where it could not be renamed/);
    expect(line).toMatch(/procedure shop copy\.dynamic_sql/);
    expect(line).toMatch(/trigger shop copy\.item_upd/);
    expect(line).not.toMatch(/note_it|stock|tidy|item_view/);
  });
});
