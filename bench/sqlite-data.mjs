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
