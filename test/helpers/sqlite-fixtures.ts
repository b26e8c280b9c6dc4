import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);
export const Database = require('better-sqlite3') as typeof BetterSqlite3;

/**
 * A database with the data SQLite backups get wrong: NULL vs '', unicode, BLOBs, big integers,
 * REAL edge values, a 10 MB text, WITHOUT ROWID, AUTOINCREMENT, generated columns, views,
 * triggers, indexes, a partial index, foreign keys and an FTS5 table.
 */
export function createNastyDatabase(path: string, options: { bigText?: number } = {}): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE people (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL,
      nick TEXT,
      bio TEXT DEFAULT '',
      avatar BLOB,
      balance REAL,
      big INTEGER,
      upper_name TEXT GENERATED ALWAYS AS (upper(name)) VIRTUAL,
      name_len INTEGER GENERATED ALWAYS AS (length(name)) STORED
    );
    CREATE TABLE "weird ""name"" table" ("key with space" TEXT PRIMARY KEY, "ÿ" INTEGER) WITHOUT ROWID;
    CREATE TABLE orders (
      order_id INTEGER PRIMARY KEY,
      person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
      amount NUMERIC CHECK (amount >= 0),
      placed_at TEXT
    );
    CREATE TABLE no_pk (a, b, c);
    CREATE TABLE audit (at TEXT, what TEXT);
    CREATE INDEX orders_person ON orders(person_id);
    CREATE UNIQUE INDEX people_nick ON people(nick) WHERE nick IS NOT NULL;
    CREATE VIEW big_spenders AS SELECT p.name, sum(o.amount) AS total FROM people p JOIN orders o ON o.person_id = p.id GROUP BY p.id;
    CREATE TRIGGER orders_audit AFTER INSERT ON orders BEGIN INSERT INTO audit VALUES (datetime('now'), 'order ' || NEW.order_id); END;
    CREATE VIRTUAL TABLE notes USING fts5(title, body);
    PRAGMA user_version = 42;
  `);
  const insert = db.prepare('INSERT INTO people (name, nick, bio, avatar, balance, big) VALUES (?, ?, ?, ?, ?, ?)');
  const rows: unknown[][] = [
    ['NULL nick', null, null, null, null, null],
    ['empty nick', '', '', Buffer.alloc(0), 0, 0],
    ['unicode 😀 é 中文 עברית', 'ü', 'a\u0301 combining, \u202Eright-to-left', Buffer.from([0, 1, 2, 255]), -0.0, -1],
    ['tabs\tand\nnewlines\\ and "quotes" \'single\'', 'tabs', '\r\n\0inside', randomBlob(70_000), 1.7976931348623157e308, 9007199254740993n],
    ['edges', 'edges', 'x', Buffer.from('binary\0zero'), 5e-324, -9223372036854775808n],
    ['max', 'max', 'y', null, -1.7976931348623157e308, 9223372036854775807n],
  ];
  db.defaultSafeIntegers(true);
  for (const r of rows) insert.run(...r);
  db.prepare('INSERT INTO people (name, bio) VALUES (?, ?)').run('big text', 'x'.repeat(options.bigText ?? 10 * 1024 * 1024));
  db.prepare('INSERT INTO "weird ""name"" table" VALUES (?, ?)').run('k 1', 1);
  db.prepare('INSERT INTO "weird ""name"" table" VALUES (?, ?)').run('ключ', null);
  const order = db.prepare('INSERT INTO orders (person_id, amount, placed_at) VALUES (?, ?, ?)');
  for (let i = 0; i < 200; i++) order.run((i % 6) + 1, i * 1.5, `2026-11-${String((i % 28) + 1).padStart(2, '0')}T10:00:00+02:00`);
  const noPk = db.prepare('INSERT INTO no_pk VALUES (?, ?, ?)');
  noPk.run(1, 'one', 1.5);
  noPk.run(null, null, null);
  noPk.run(Buffer.from('blob in untyped'), 3n, 'text');
  db.exec('DELETE FROM no_pk WHERE rowid = 2'); // a rowid gap that must survive
  noPk.run('after gap', 4, 4);
  db.prepare('INSERT INTO notes VALUES (?, ?)').run('hello', 'full text search body');
  db.close();
}

function randomBlob(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 2654435761) >>> 24;
  return b;
}

/** Schema rows as sqlite_master holds them, for exact comparison. */
export function schemaOf(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name').all();
  } finally {
    db.close();
  }
}

/** sha256 over every row (with rowid where there is one) of every table, by table name. */
export function contentHashes(path: string): Record<string, { rows: number; sha256: string }> {
  const db = new Database(path, { readonly: true });
  db.defaultSafeIntegers(true);
  try {
    const tables = db
      .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all() as { name: string; sql: string }[];
    const out: Record<string, { rows: number; sha256: string }> = {};
    for (const t of tables) {
      const q = `"${t.name.replace(/"/g, '""')}"`;
      const hasRowid = !/WITHOUT\s+ROWID/i.test(t.sql ?? '') && !/VIRTUAL/i.test(t.sql ?? '');
      const rows = db.prepare(`SELECT ${hasRowid ? 'rowid AS __rowid, ' : ''}* FROM ${q} ORDER BY 1`).raw().all() as unknown[][];
      const hash = createHash('sha256');
      for (const r of rows) {
        for (const v of r) {
          const tag = v === null ? 'n' : Buffer.isBuffer(v) ? 'b' : typeof v === 'bigint' ? 'i' : typeof v === 'number' ? 'r' : 's';
          const body = Buffer.isBuffer(v) ? v : Buffer.from(typeof v === 'number' ? v.toString() + (Object.is(v, -0) ? '-0' : '') : String(v));
          hash.update(`${tag}${body.length}:`);
          hash.update(body);
        }
        hash.update('\n');
      }
      out[t.name] = { rows: rows.length, sha256: hash.digest('hex') };
    }
    return out;
  } finally {
    db.close();
  }
}
