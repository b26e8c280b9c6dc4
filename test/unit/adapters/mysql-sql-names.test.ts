import { describe, expect, it } from 'vitest';
import { qualifyingDatabases, renameDatabases, statementAction } from '../../../src/adapters/connectors/mysql/mysql-sql-names.js';

describe('database qualifiers in SQL (binlog statements replayed under another name)', () => {
  const map = new Map([['shop', 'shop_copy']]);

  it('renames bare and backquoted qualifiers, not table or column names', () => {
    expect(renameDatabases('ALTER TABLE shop.items ADD COLUMN shop INT', map)).toBe('ALTER TABLE `shop_copy`.items ADD COLUMN shop INT');
    expect(renameDatabases('RENAME TABLE `shop`.`a` TO `shop`.`b`', map)).toBe('RENAME TABLE `shop_copy`.`a` TO `shop_copy`.`b`');
    expect(renameDatabases('CREATE TABLE t (x INT) SELECT other.shop.y FROM x', map)).toBe('CREATE TABLE t (x INT) SELECT other.shop.y FROM x');
    expect(renameDatabases('ALTER TABLE shopping.items DROP x', map)).toBe('ALTER TABLE shopping.items DROP x');
  });

  it('leaves strings, comments and numbers alone', () => {
    const sql = "ALTER TABLE shop.t COMMENT 'see shop.t' /* shop.t */ -- shop.t\n, ALTER c SET DEFAULT 'it''s shop.x', ADD d DECIMAL(5,2) DEFAULT 1.5 # shop.z";
    expect(renameDatabases(sql, map)).toBe(sql.replace('ALTER TABLE shop.t', 'ALTER TABLE `shop_copy`.t'));
    expect(renameDatabases('SELECT "a\\"shop.b" FROM shop.t', map)).toBe('SELECT "a\\"shop.b" FROM `shop_copy`.t');
  });

  it('finds the databases a statement names', () => {
    expect([...qualifyingDatabases('DROP TABLE IF EXISTS `we``ird`.t, shop.u, v')]).toEqual(['we`ird', 'shop']);
    expect(qualifyingDatabases("GRANT SELECT ON *.* TO 'u'@'%'").size).toBe(0);
    expect(renameDatabases('DROP TABLE `we``ird`.t', new Map([['we`ird', 'x`y']]))).toBe('DROP TABLE `x``y`.t');
  });
});

describe('which binlog statements a replay runs', () => {
  it('runs object DDL and DML, never accounts, grants or settings; stops at database DDL', () => {
    for (const sql of ['ALTER TABLE t ADD c INT', '/* x */ CREATE OR REPLACE VIEW v AS SELECT 1', 'DROP TABLE IF EXISTS t', 'CREATE DEFINER=`a`@`%` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.x = 1', 'TRUNCATE t', 'rename table a to b', 'INSERT INTO t VALUES (1)']) {
      expect(statementAction(sql), sql).toEqual({ action: 'replay' });
    }
    for (const sql of ["GRANT ALL ON *.* TO 'x'@'%'", "CREATE USER 'x'@'%'", 'DROP ROLE r', "SET PASSWORD FOR 'x' = 'y'", "INSTALL SONAME 'ha_connect'", 'FLUSH PRIVILEGES', 'CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (HOST "h")', 'SET GLOBAL read_only = 1']) {
      expect(statementAction(sql), sql).toEqual({ action: 'skip' });
    }
    expect(statementAction('DROP DATABASE shop')).toEqual({ action: 'database', name: 'shop' });
    expect(statementAction('create schema if not exists `we``ird`')).toEqual({ action: 'database', name: 'we`ird' });
  });
});
