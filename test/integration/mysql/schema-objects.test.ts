import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { tempDir } from '../../helpers/temp.js';
import { backup, restore, showCreateAll, tableFingerprints, target } from './harness.js';

const SETUP = String.raw`
SET GLOBAL log_bin_trust_function_creators = 1;
CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE app;
CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, UNIQUE KEY uname (name)) COMMENT 'Eltern ✓';
CREATE TABLE child (
  id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT, boss_id INT, note TEXT CHARACTER SET latin1 COMMENT 'latin1 column',
  total DECIMAL(10,2) AS (parent_id * 1.5) STORED, shout VARCHAR(60) AS (UPPER(note)) VIRTUAL,
  KEY kp (parent_id), KEY kshout (shout),
  CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE,
  CONSTRAINT fk_boss FOREIGN KEY (boss_id) REFERENCES child (id) ON DELETE SET NULL
) AUTO_INCREMENT = 500;
CREATE TABLE legacy (id INT PRIMARY KEY, txt VARCHAR(40), CHECK (id > 0)) CHARACTER SET latin1 COLLATE latin1_german1_ci;
CREATE TABLE audit (n INT NOT NULL DEFAULT 0, last VARCHAR(50) DEFAULT NULL) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
INSERT INTO audit VALUES (0, NULL);
CREATE TABLE sales (id INT NOT NULL, sold DATE NOT NULL, amount INT, PRIMARY KEY (id, sold), KEY ka (amount))
  PARTITION BY RANGE (YEAR(sold)) (PARTITION p2020 VALUES LESS THAN (2021), PARTITION p2021 VALUES LESS THAN (2022), PARTITION pmax VALUES LESS THAN MAXVALUE);
CREATE SEQUENCE seq_orders START WITH 100 INCREMENT BY 5;
INSERT INTO parent VALUES (1, 'Ånne'), (2, 'Bob'), (3, 'Zoë');
INSERT INTO child (parent_id, boss_id, note) VALUES (1, NULL, 'café'), (2, 500, 'boss is 500'), (3, 501, NULL);
INSERT INTO legacy VALUES (1, 'Straße'), (2, 'ÄÖÜ');
INSERT INTO sales VALUES (1, '2020-05-01', 10), (2, '2021-06-01', 20), (3, '2030-01-01', 30);
DO NEXTVAL(seq_orders); DO NEXTVAL(seq_orders);
CREATE FUNCTION money(x DECIMAL(10,2)) RETURNS VARCHAR(20) DETERMINISTIC RETURN CONCAT('€', FORMAT(x, 2));
SET SESSION sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT';
CREATE PROCEDURE "report"(IN p INT) BEGIN SELECT 'a;;b' || "name" AS x FROM parent WHERE id = p; SELECT 1; END;
SET SESSION sql_mode = DEFAULT;
CREATE VIEW z_base AS SELECT c.id, c.parent_id, p.name, c.total FROM child c JOIN parent p ON p.id = c.parent_id;
CREATE VIEW m_mid AS SELECT id, name, money(total) AS shown FROM z_base WHERE total > 0;
CREATE VIEW a_top AS SELECT COUNT(*) AS n FROM m_mid;
CREATE TRIGGER t_audit_1 BEFORE INSERT ON child FOR EACH ROW UPDATE audit SET n = n + 1;
CREATE TRIGGER t_audit_2 BEFORE INSERT ON child FOR EACH ROW FOLLOWS t_audit_1 SET NEW.note = COALESCE(NEW.note, 'none');
CREATE TRIGGER t_parent AFTER UPDATE ON parent FOR EACH ROW UPDATE audit SET last = NEW.name;
CREATE EVENT ev_cleanup ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00' DISABLE COMMENT 'nightly' DO DELETE FROM audit WHERE n < 0;
CREATE DATABASE other CHARACTER SET latin1;
CREATE TABLE other.t (id INT PRIMARY KEY, v VARCHAR(10));
INSERT INTO other.t VALUES (1, 'x');
CREATE USER restorer@localhost;
GRANT ALL PRIVILEGES ON byother.* TO restorer@localhost;
`;

describe('MySQL connector: schema objects (MariaDB)', () => {
  let server: MariaDbServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let repo: string;

  beforeAll(async () => {
    server = await startMariaDb();
    dir = await tempDir('mysql-schema-');
    repo = join(dir.path, 'repo');
    const conn = await server.connect();
    await conn.query(SETUP);
    await conn.end();
  });
  afterAll(async () => {
    await server?.stop();
    await dir?.cleanup();
  });

  it('round-trips views on views, routines, triggers, events, partitions, FKs, sequences: SHOW CREATE and data equal', async () => {
    const { manifest } = await backup(dir.path, { target: target(server, 'app'), repository: repo, parallel: 3 });
    const types = Object.fromEntries(manifest.objects.map((o) => [o.name, o.type]));
    expect(types).toMatchObject({
      'app.a_top': 'view',
      'app.money': 'function',
      'app.report': 'procedure',
      'app.t_audit_2': 'trigger',
      'app.ev_cleanup': 'event',
      'app.seq_orders': 'sequence',
      'app.sales': 'table',
    });
    await restore(dir.path, { target: target(server, 'restored', { create: true }), repository: repo });
    expect(await showCreateAll(server, 'restored')).toEqual(await showCreateAll(server, 'app'));
    expect(await tableFingerprints(server, 'restored')).toEqual(await tableFingerprints(server, 'app'));
    // Triggers were created after the load: they did not fire on restored rows (else n would be 3).
    expect(await server.query('SELECT n FROM restored.audit')).toEqual([{ n: 0 }]);
    expect(await server.query('SELECT n + 0 AS n FROM restored.a_top')).toEqual([{ n: '3' }]);
    const [charset] = await server.query<{ c: string }>("SELECT DEFAULT_COLLATION_NAME AS c FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'restored'");
    expect(charset!.c).toBe('utf8mb4_unicode_ci');
    // The sequence goes on from where the source's stood (START 100, INCREMENT 5, two values taken:
    // 100 and 105), never handing out a value the source already gave, on its own step.
    const [state] = await server.query<{ next: string }>('SELECT next_not_cached_value AS next FROM app.seq_orders');
    const [restoredState] = await server.query<{ next: string }>('SELECT next_not_cached_value AS next FROM restored.seq_orders');
    expect(restoredState).toEqual(state);
    const [next] = await server.query<{ v: string }>('SELECT NEXTVAL(restored.seq_orders) AS v');
    expect(Number(next!.v)).toBeGreaterThanOrEqual(110);
    expect((Number(next!.v) - 100) % 5).toBe(0);
  });

  it('previews a backup (--dry-run) without writing anything', async () => {
    const preview = await backup(dir.path, { target: target(server, 'app'), repository: join(dir.path, 'never'), dryRun: true, excludeTables: ['sales'] });
    expect(preview.dryRun).toBe(true);
    const names = preview.manifest.objects.map((o) => o.name);
    expect(names).toEqual(expect.arrayContaining(['app.parent', 'app.child', 'app.z_base', 'app.money', 'app.t_audit_1']));
    expect(names).not.toContain('app.sales');
    await expect(backup(dir.path, { target: target(server, 'app'), repository: repo, tables: ['nope'] })).rejects.toMatchObject({ code: 'E_USAGE' });
  });

  it('refuses a non-empty target without --clean, replaces it with --clean', async () => {
    await expect(restore(dir.path, { target: target(server, 'restored'), repository: repo })).rejects.toMatchObject({ code: 'E_TARGET_EXISTS' });
    await expect(restore(dir.path, { target: target(server, 'nowhere'), repository: repo })).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await server.query('CREATE TABLE restored.extra (x INT); DELETE FROM restored.parent WHERE id = 3;');
    await restore(dir.path, { target: target(server, 'restored'), repository: repo, clean: true });
    expect(await tableFingerprints(server, 'restored')).toEqual(await tableFingerprints(server, 'app'));
    expect(await showCreateAll(server, 'restored')).toEqual(await showCreateAll(server, 'app'));
  });

  it('restores chosen tables only (--tables), and plans without changing anything (--dry-run)', async () => {
    await server.query('CREATE DATABASE part');
    const plan = await restore(dir.path, { target: target(server, 'part'), repository: repo, tables: ['legacy', 'app.parent', 'z_base'], dryRun: true });
    expect(plan.dryRun).toBe(true);
    expect(plan.plan.items.map((i) => [i.object, i.action])).toEqual([
      ['part.legacy', 'create'],
      ['part.parent', 'create'],
      ['part.z_base', 'create'],
    ]);
    expect(await server.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'part'")).toEqual([]);
    await restore(dir.path, { target: target(server, 'part'), repository: repo, tables: ['legacy', 'parent', 'child'] });
    const names = await server.query<{ n: string }>("SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'part' ORDER BY 1");
    expect(names.map((r) => r.n)).toEqual(['child', 'legacy', 'parent']);
    const fp = await tableFingerprints(server, 'part');
    const app = await tableFingerprints(server, 'app');
    expect(fp).toEqual({ child: app.child, legacy: app.legacy, parent: app.parent });
    const triggers = await server.query<{ n: string }>("SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'part' ORDER BY 1");
    expect(triggers.map((t) => t.n)).toEqual(['t_audit_1', 't_audit_2', 't_parent']);
    await expect(restore(dir.path, { target: target(server, 'part'), repository: repo, tables: ['legacy'] })).rejects.toMatchObject({
      code: 'E_TARGET_EXISTS',
    });
  });

  it('lets another user restore (definers dropped) and backs up several databases at once', async () => {
    await restore(dir.path, { target: { ...target(server, 'byother', { create: true }), user: 'restorer' }, repository: repo });
    const definers = await server.query<{ d: string }>("SELECT DISTINCT DEFINER AS d FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'byother'");
    expect(definers).toEqual([{ d: 'restorer@localhost' }]);
    expect(await tableFingerprints(server, 'byother')).toEqual(await tableFingerprints(server, 'app'));

    const multi = join(dir.path, 'multi');
    const { manifest } = await backup(dir.path, { target: target(server, 'app,other'), repository: multi });
    expect(manifest.objects.map((o) => o.name)).toContain('other.t');
    await server.query('DROP DATABASE other');
    await restore(dir.path, { target: target(server, 'other', { create: true }), repository: multi });
    expect(await server.query('SELECT * FROM other.t')).toEqual([{ id: 1, v: 'x' }]);
  });
});
