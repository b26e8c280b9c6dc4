import { describe, expect, it } from 'vitest';
import { qualifyingDatabases, renameDatabases } from '../../../src/adapters/connectors/mysql/mysql-sql-names.js';

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
