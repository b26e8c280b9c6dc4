// The SQLite bench database: events with text, numbers and timestamps, users, and an index; compresses
// like application data. Shared by bench/sqlite.mjs and bench/sqlite-incremental.mjs.
import { createRequire } from 'node:module';
import { sizeMB } from './measure.mjs';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');

/**
 * Builds `path` (WAL mode, checkpointed) until it holds about `targetMB` megabytes, adding events
 * `step` rows at a time (the default overshoots a small target: ~10 MB a step).
 */
export function buildSqliteBenchDb(path, targetMB, { step = 100000 } = {}) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, kind TEXT, payload TEXT, amount REAL, at TEXT);
           CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT);`);
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];
  db.exec(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
           INSERT INTO users SELECT x, 'user ' || x, 'user' || x || '@example.test' FROM c`);
  const insert = db.prepare(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${Number(step)})
    INSERT INTO events (user_id, kind, payload, amount, at)
    SELECT abs(random()) % 100000, ?, ? || ' ' || hex(randomblob(8)) || ' ' || (x * 7919 % 100003), (abs(random()) % 100000) / 100.0,
           strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000 + x, 'unixepoch') FROM c`);
  const walMB = () => { try { return sizeMB(`${path}-wal`); } catch { return 0; } };
  while (sizeMB(path) + walMB() < targetMB * 0.93) {
    const w = words[Math.floor(Math.random() * words.length)];
    insert.run(w, `${w} ${words.join(' ')} ${w.toUpperCase()}`);
  }
  db.exec('CREATE INDEX events_user ON events(user_id)');
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** The profiles bench/sqlite.mjs generates (tables10k ignores most of the size: 10,000 small tables). */
export const SQLITE_PROFILES = ['text', 'numeric', 'wide', 'app', 'tables10k'];

/**
 * Builds `path` (WAL mode, checkpointed) as one of SQLITE_PROFILES, about `targetMB` megabytes:
 *   text       sysbench oltp's shape (sbtest1..2: id, k, c CHAR(120), pad CHAR(60), index k_1) with
 *              random digit strings as `sysbench prepare` writes them (sysbench has no SQLite driver)
 *   numeric    pgbench -i's shape (accounts, branches, tellers, history; blank-padded filler)
 *   wide       wide rows: a JSON document, a BLOB (half random, half zeros), REAL, ISO time, a uuid index
 *   app        buildSqliteBenchDb's events and users
 *   tables10k  10,000 small tables (rows per table from targetMB, at least 5)
 */
export function buildSqliteProfileDb(path, profile, targetMB) {
  if (profile === 'app') return buildSqliteBenchDb(path, targetMB);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const mb = () => (db.pragma('page_count', { simple: true }) * db.pragma('page_size', { simple: true })) / 1e6;
  const fill = (insert, rowsPerStep) => {
    for (let from = 1; mb() < targetMB * 0.95; from += rowsPerStep) insert.run(from, from + rowsPerStep - 1);
  };
  const rows = (sql) => `WITH RECURSIVE c(x) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT x + 1 FROM c WHERE x < CAST(? AS INTEGER)) ${sql}`;
  const digits = (groups) => `printf('${Array(groups).fill('%011d').join('-')}'${', abs(random()) % 100000000000'.repeat(groups)})`;
  if (profile === 'text') {
    for (const t of ['sbtest1', 'sbtest2']) db.exec(`CREATE TABLE ${t} (id INTEGER PRIMARY KEY, k INTEGER NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '')`);
    const inserts = ['sbtest1', 'sbtest2'].map((t) => db.prepare(rows(`INSERT INTO ${t} SELECT x, abs(random()) % 1000000, ${digits(10)}, ${digits(5)} FROM c`)));
    let turn = 0;
    fill({ run: (a, b) => inserts[turn++ % 2].run(a, b) }, 50000);
    for (const t of ['sbtest1', 'sbtest2']) db.exec(`CREATE INDEX k_${t} ON ${t}(k)`);
  } else if (profile === 'numeric') {
    db.exec(`CREATE TABLE pgbench_branches (bid INTEGER PRIMARY KEY, bbalance INTEGER, filler CHAR(88));
             CREATE TABLE pgbench_tellers (tid INTEGER PRIMARY KEY, bid INTEGER, tbalance INTEGER, filler CHAR(84));
             CREATE TABLE pgbench_accounts (aid INTEGER PRIMARY KEY, bid INTEGER, abalance INTEGER, filler CHAR(84));
             CREATE TABLE pgbench_history (tid INTEGER, bid INTEGER, aid INTEGER, delta INTEGER, mtime TEXT, filler CHAR(22));`);
    // pgbench -i: 100,000 accounts, 10 tellers and 1 branch per scale unit, abalance 0, filler blank.
    const accounts = db.prepare(rows(`INSERT INTO pgbench_accounts SELECT x, (x - 1) / 100000 + 1, 0, printf('%84s', '') FROM c`));
    fill(accounts, 100000);
    const scale = Math.ceil(db.prepare('SELECT max(aid) FROM pgbench_accounts').pluck().get() / 100000);
    db.prepare(rows(`INSERT INTO pgbench_branches SELECT x, 0, printf('%88s', '') FROM c`)).run(1, scale);
    db.prepare(rows(`INSERT INTO pgbench_tellers SELECT x, (x - 1) / 10 + 1, 0, printf('%84s', '') FROM c`)).run(1, scale * 10);
  } else if (profile === 'wide') {
    db.exec(`CREATE TABLE documents (id INTEGER PRIMARY KEY, uuid TEXT NOT NULL, created TEXT NOT NULL, price REAL, qty INTEGER,
             doc TEXT CHECK (json_valid(doc)), thumb BLOB, note TEXT)`);
    const insert = db.prepare(rows(`INSERT INTO documents SELECT x, lower(hex(randomblob(16))),
      strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000 + x * 37, 'unixepoch'), (abs(random()) % 1000000) / 100.0, abs(random()) % 500,
      json_object('customer', json_object('id', abs(random()) % 100000, 'name', 'customer ' || (x % 9973), 'tier', CASE x % 3 WHEN 0 THEN 'gold' WHEN 1 THEN 'silver' ELSE 'bronze' END),
                  'items', json_array(json_object('sku', 'SKU-' || (x % 5003), 'qty', x % 7 + 1, 'price', (x % 997) / 10.0), json_object('sku', 'SKU-' || (x % 4001), 'qty', 1, 'price', (x % 503) / 10.0)),
                  'tags', json_array('alpha', 'bravo', CASE x % 2 WHEN 0 THEN 'charlie' ELSE 'delta' END), 'session', hex(randomblob(12))),
      unhex(hex(randomblob(200 + abs(random()) % 800)) || hex(zeroblob(600))), 'note ' || x || ' ' || hex(randomblob(6)) FROM c`));
    fill(insert, 5000);
    db.exec('CREATE UNIQUE INDEX documents_uuid ON documents(uuid); CREATE INDEX documents_created ON documents(created)');
  } else if (profile === 'tables10k') {
    const perTable = Math.max(5, Math.round((targetMB * 1e6) / 10000 / 80));
    db.transaction(() => {
      for (let t = 1; t <= 10000; t++) {
        const name = `t${String(t).padStart(5, '0')}`;
        db.exec(`CREATE TABLE ${name} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value REAL, at TEXT)`);
        db.prepare(rows(`INSERT INTO ${name} SELECT x, 'row ' || x || ' of ${name}', (abs(random()) % 100000) / 100.0, strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + x, 'unixepoch') FROM c`)).run(1, perTable);
      }
    })();
  } else {
    throw new Error(`unknown SQLite profile ${profile} (${SQLITE_PROFILES.join(', ')})`);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}
