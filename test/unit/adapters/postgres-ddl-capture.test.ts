import { describe, expect, it } from 'vitest';
import { ddlStatement, ddlToRun } from '../../../src/adapters/connectors/postgres/postgres-ddl-capture.js';
import { firstKeyword, splitStatements } from '../../../src/adapters/connectors/postgres/postgres-statements.js';
import { isDbBackupError } from '../../../src/domain/errors.js';

describe('splitStatements', () => {
  it('splits at top-level semicolons only, past strings, identifiers, dollar bodies and comments', () => {
    const text = [
      `CREATE TABLE "a;b" (x text DEFAULT 'it''s; fine', y text DEFAULT E'back\\'slash;')`,
      `INSERT INTO t VALUES ($$;$$)`,
      `CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$`,
      `-- a comment; with a semicolon\nALTER TABLE t ADD COLUMN z int /* nested /* ; */ still; */`,
      ``,
    ].join(';\n');
    expect(splitStatements(text)).toEqual([
      `CREATE TABLE "a;b" (x text DEFAULT 'it''s; fine', y text DEFAULT E'back\\'slash;')`,
      `INSERT INTO t VALUES ($$;$$)`,
      `CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$`,
      `-- a comment; with a semicolon\nALTER TABLE t ADD COLUMN z int /* nested /* ; */ still; */`,
    ]);
    expect(firstKeyword(`-- x\n /* y */ alter table t`)).toBe('ALTER');
    expect(splitStatements('SELECT 1')).toEqual(['SELECT 1']);
  });
});

describe('DDL replay', () => {
  const row = (query: string, command: number, tag: string) =>
    ({ op: 'I', rel: ['dbbackup', 'ddl_log'], new: [['id', '1'], ['command', String(command)], ['tag', tag], ['search_path', 'public'], ['query', query]] }) as const;

  it('runs only the logged DDL statement of a query string that also writes rows', () => {
    const query = `CREATE TABLE f (id int PRIMARY KEY); INSERT INTO f VALUES (1); ALTER TABLE f ADD COLUMN n text; UPDATE f SET n = 'x'`;
    expect(ddlToRun(ddlStatement(row(query, 1, 'CREATE TABLE') as never)!)).toBe('CREATE TABLE f (id int PRIMARY KEY)');
    expect(ddlToRun(ddlStatement(row(query, 2, 'ALTER TABLE') as never)!)).toBe('ALTER TABLE f ADD COLUMN n text');
    // The logged tag must match the statement found: anything else is refused, never guessed.
    expect(() => ddlToRun(ddlStatement(row(query, 2, 'DROP TABLE') as never)!)).toThrow(/cannot be found in its logged query/);
  });

  it('a DO block runs once, for its first command; a statement that cannot be found is E_RESTORE_FAILED; other tables are not DDL', () => {
    const block = `DO $$ BEGIN CREATE TABLE a (i int); CREATE TABLE b (i int); END $$`;
    expect(ddlToRun(ddlStatement(row(block, 1, 'CREATE TABLE') as never)!)).toBe(block);
    expect(ddlToRun(ddlStatement(row(block, 2, 'CREATE TABLE') as never)!)).toBeUndefined();
    let err: unknown;
    try {
      ddlToRun(ddlStatement(row('ALTER TABLE a ADD b int; ALTER TABLE a ADD c int', 3, 'ALTER TABLE') as never)!);
    } catch (e) {
      err = e;
    }
    expect(isDbBackupError(err, 'E_RESTORE_FAILED')).toBe(true);
    expect(ddlStatement({ op: 'I', rel: ['public', 'ddl_log'], new: [['query', 'DROP TABLE x']] } as never)).toBeUndefined();
  });
});
