import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Database } from '../../helpers/sqlite-fixtures.js';

/**
 * Databases modelled on ones found in the wild (written from memory, not copied): a Chinook-like
 * music store, a browser history ("places") database and a notes/mail app database that uses most
 * of SQLite's less common features. Each function builds the database at `path`.
 */

/** Chinook-like store: composite keys, self-references, NUMERIC prices, auto_vacuum=INCREMENTAL. */
export function createChinook(path: string): void {
  const db = open(path);
  db.pragma('auto_vacuum = INCREMENTAL');
  db.exec(`
    CREATE TABLE Artist (ArtistId INTEGER PRIMARY KEY NOT NULL, Name NVARCHAR(120));
    CREATE TABLE Album (AlbumId INTEGER PRIMARY KEY NOT NULL, Title NVARCHAR(160) NOT NULL,
      ArtistId INTEGER NOT NULL, FOREIGN KEY (ArtistId) REFERENCES Artist (ArtistId) ON DELETE NO ACTION ON UPDATE NO ACTION);
    CREATE TABLE Genre (GenreId INTEGER PRIMARY KEY NOT NULL, Name NVARCHAR(120));
    CREATE TABLE MediaType (MediaTypeId INTEGER PRIMARY KEY NOT NULL, Name NVARCHAR(120));
    CREATE TABLE Track (TrackId INTEGER PRIMARY KEY NOT NULL, Name NVARCHAR(200) NOT NULL, AlbumId INTEGER,
      MediaTypeId INTEGER NOT NULL, GenreId INTEGER, Composer NVARCHAR(220), Milliseconds INTEGER NOT NULL,
      Bytes INTEGER, UnitPrice NUMERIC(10,2) NOT NULL,
      FOREIGN KEY (AlbumId) REFERENCES Album (AlbumId), FOREIGN KEY (GenreId) REFERENCES Genre (GenreId),
      FOREIGN KEY (MediaTypeId) REFERENCES MediaType (MediaTypeId));
    CREATE TABLE Playlist (PlaylistId INTEGER PRIMARY KEY NOT NULL, Name NVARCHAR(120));
    CREATE TABLE PlaylistTrack (PlaylistId INTEGER NOT NULL, TrackId INTEGER NOT NULL,
      CONSTRAINT PK_PlaylistTrack PRIMARY KEY (PlaylistId, TrackId),
      FOREIGN KEY (PlaylistId) REFERENCES Playlist (PlaylistId), FOREIGN KEY (TrackId) REFERENCES Track (TrackId));
    CREATE TABLE Employee (EmployeeId INTEGER PRIMARY KEY NOT NULL, LastName NVARCHAR(20) NOT NULL,
      FirstName NVARCHAR(20) NOT NULL, Title NVARCHAR(30), ReportsTo INTEGER, BirthDate DATETIME, HireDate DATETIME,
      Email NVARCHAR(60), FOREIGN KEY (ReportsTo) REFERENCES Employee (EmployeeId));
    CREATE TABLE Customer (CustomerId INTEGER PRIMARY KEY NOT NULL, FirstName NVARCHAR(40) NOT NULL,
      LastName NVARCHAR(20) NOT NULL, Company NVARCHAR(80), Country NVARCHAR(40), Email NVARCHAR(60) NOT NULL,
      SupportRepId INTEGER, FOREIGN KEY (SupportRepId) REFERENCES Employee (EmployeeId));
    CREATE TABLE Invoice (InvoiceId INTEGER PRIMARY KEY NOT NULL, CustomerId INTEGER NOT NULL, InvoiceDate DATETIME NOT NULL,
      BillingCountry NVARCHAR(40), Total NUMERIC(10,2) NOT NULL, FOREIGN KEY (CustomerId) REFERENCES Customer (CustomerId));
    CREATE TABLE InvoiceLine (InvoiceLineId INTEGER PRIMARY KEY NOT NULL, InvoiceId INTEGER NOT NULL, TrackId INTEGER NOT NULL,
      UnitPrice NUMERIC(10,2) NOT NULL, Quantity INTEGER NOT NULL,
      FOREIGN KEY (InvoiceId) REFERENCES Invoice (InvoiceId), FOREIGN KEY (TrackId) REFERENCES Track (TrackId));
    CREATE INDEX IFK_AlbumArtistId ON Album (ArtistId);
    CREATE INDEX IFK_TrackAlbumId ON Track (AlbumId);
    CREATE INDEX IFK_TrackGenreId ON Track (GenreId);
    CREATE INDEX IFK_PlaylistTrackTrackId ON PlaylistTrack (TrackId);
    CREATE INDEX IFK_InvoiceLineInvoiceId ON InvoiceLine (InvoiceId);
    CREATE INDEX IFK_InvoiceLineTrackId ON InvoiceLine (TrackId);
    CREATE INDEX IFK_EmployeeReportsTo ON Employee (ReportsTo);
    -- Written in lower case on purpose: sqlite_master keeps a trigger's table name as written.
    CREATE TRIGGER invoice_line_total AFTER INSERT ON invoiceline BEGIN
      UPDATE Invoice SET Total = Total + new.UnitPrice * new.Quantity WHERE InvoiceId = new.InvoiceId; END;
    INSERT INTO Artist SELECT value, 'Artist ' || value || CASE value % 7 WHEN 0 THEN ' & Sons' WHEN 1 THEN ' (feat. Ünïcödé)' ELSE '' END FROM generate_series(1, 275);
    INSERT INTO Genre SELECT value, 'Genre ' || value FROM generate_series(1, 25);
    INSERT INTO MediaType VALUES (1, 'MPEG audio file'), (2, 'Protected AAC audio file'), (3, 'Protected MPEG-4 video file'), (4, 'Purchased AAC audio file'), (5, 'AAC audio file');
    INSERT INTO Album SELECT value, 'Album ' || value, 1 + value % 275 FROM generate_series(1, 347);
    INSERT INTO Track SELECT value, 'Track ' || value || ' ''quoted''', CASE WHEN value % 50 = 0 THEN NULL ELSE 1 + value % 347 END,
      1 + value % 5, 1 + value % 25, CASE WHEN value % 3 = 0 THEN NULL ELSE 'Composer ' || (value % 97) END,
      100000 + value * 37, 1000000 + value * 1013, CASE WHEN value % 10 = 0 THEN 1.99 ELSE 0.99 END FROM generate_series(1, 3503);
    INSERT INTO Playlist SELECT value, 'Playlist ' || value FROM generate_series(1, 18);
    INSERT INTO PlaylistTrack SELECT 1 + value % 18, value FROM generate_series(1, 3503);
    INSERT OR IGNORE INTO PlaylistTrack SELECT 1 + (value * 7) % 18, value FROM generate_series(1, 3503, 3);
    INSERT INTO Employee VALUES (1, 'Adams', 'Andrew', 'General Manager', NULL, '1962-02-18 00:00:00', '2002-08-14 00:00:00', 'andrew@chinookcorp.com');
    INSERT INTO Employee SELECT value, 'Last' || value, 'First' || value, 'Sales Support Agent', 1, '1970-01-01 00:00:00', '2003-04-01 00:00:00', 'e' || value || '@chinookcorp.com' FROM generate_series(2, 8);
    INSERT INTO Customer SELECT value, 'Fïrst' || value, 'Last' || value, CASE WHEN value % 4 = 0 THEN NULL ELSE 'Company ' || value END,
      CASE value % 3 WHEN 0 THEN 'Brazil' WHEN 1 THEN 'Germany' ELSE 'USA' END, 'c' || value || '@example.com', 2 + value % 7 FROM generate_series(1, 59);
    INSERT INTO Invoice SELECT value, 1 + value % 59, date('2009-01-01', '+' || value || ' days') || ' 00:00:00', 'Country', 0 FROM generate_series(1, 412);
    INSERT INTO InvoiceLine SELECT value, 1 + value % 412, 1 + (value * 13) % 3503, 0.99, 1 FROM generate_series(1, 2240);
    UPDATE Invoice SET Total = (SELECT sum(UnitPrice * Quantity) FROM InvoiceLine l WHERE l.InvoiceId = Invoice.InvoiceId);
    -- Deleted rows leave free pages behind (auto_vacuum=INCREMENTAL keeps them until told).
    CREATE TABLE scratch (x TEXT);
    INSERT INTO scratch SELECT hex(randomblob(500)) FROM generate_series(1, 400);
    DROP TABLE scratch;
    ANALYZE;
  `);
  db.close();
}

/** Browser-history-like: WAL, 64 KiB pages, WITHOUT ROWID, partial/expression/descending indexes. */
export function createPlaces(path: string): void {
  const db = open(path);
  db.pragma('page_size = 65536');
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR, rev_host LONGVARCHAR,
      visit_count INTEGER DEFAULT 0, hidden INTEGER DEFAULT 0 NOT NULL, typed INTEGER DEFAULT 0 NOT NULL,
      frecency INTEGER DEFAULT -1 NOT NULL, last_visit_date INTEGER, guid TEXT, foreign_count INTEGER DEFAULT 0 NOT NULL,
      url_hash INTEGER DEFAULT 0 NOT NULL, description TEXT, preview_image_url TEXT, origin_id INTEGER REFERENCES moz_origins(id));
    CREATE TABLE moz_origins (id INTEGER PRIMARY KEY, prefix TEXT NOT NULL, host TEXT NOT NULL, frecency INTEGER NOT NULL, UNIQUE (prefix, host));
    CREATE TABLE moz_historyvisits (id INTEGER PRIMARY KEY, from_visit INTEGER, place_id INTEGER, visit_date INTEGER, visit_type INTEGER, session INTEGER);
    CREATE TABLE moz_meta (key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;
    CREATE TABLE moz_places_metadata_search_queries (id INTEGER PRIMARY KEY, terms TEXT NOT NULL UNIQUE);
    CREATE TABLE moz_keywords_wr (keyword TEXT NOT NULL, place_id INTEGER NOT NULL, post_data TEXT, PRIMARY KEY (keyword, place_id)) WITHOUT ROWID;
    CREATE INDEX moz_places_url_hashindex ON moz_places (url_hash);
    CREATE INDEX moz_places_hostindex ON moz_places (rev_host);
    CREATE INDEX moz_places_visitcount ON moz_places (visit_count);
    CREATE INDEX moz_places_frecencyindex ON moz_places (frecency DESC);
    CREATE INDEX moz_places_lastvisitdateindex ON moz_places (last_visit_date);
    CREATE UNIQUE INDEX moz_places_guid_uniqueindex ON moz_places (guid);
    CREATE INDEX moz_places_originidindex ON moz_places (origin_id);
    CREATE INDEX moz_places_visible ON moz_places (frecency) WHERE hidden = 0;
    CREATE INDEX moz_places_title_lower ON moz_places (lower(title) COLLATE NOCASE);
    CREATE INDEX moz_places_host_prefix ON moz_places (substr(rev_host, 1, 8), visit_count DESC) WHERE rev_host IS NOT NULL;
    CREATE INDEX moz_historyvisits_placedateindex ON moz_historyvisits (place_id, visit_date);
    CREATE INDEX moz_historyvisits_fromindex ON moz_historyvisits (from_visit);
    CREATE INDEX moz_historyvisits_dateindex ON moz_historyvisits (visit_date);
    INSERT INTO moz_origins SELECT value, CASE value % 2 WHEN 0 THEN 'https://' ELSE 'http://' END, 'host' || value || '.example', value * 10 FROM generate_series(1, 300);
    INSERT INTO moz_places (id, url, title, rev_host, visit_count, hidden, frecency, last_visit_date, guid, url_hash, origin_id)
      SELECT value, 'https://host' || (value % 300) || '.example/page/' || value || '?q=' || hex(randomblob(4)),
        CASE WHEN value % 9 = 0 THEN NULL ELSE 'Title ' || value || ' — ünïcode 日本語' END,
        reverse_host, value % 40, value % 11 = 0, (value * 7919) % 10000 - 1, 1700000000000000 + value * 1000000,
        substr(hex(randomblob(9)), 1, 12), (value * 2654435761) % 281474976710656, 1 + value % 300
      FROM generate_series(1, 5000), (SELECT 'elpmaxe.' || 'tsoh.' AS reverse_host);
    INSERT INTO moz_historyvisits SELECT value, CASE WHEN value % 4 = 0 THEN value - 1 ELSE 0 END, 1 + value % 5000,
      1700000000000000 + value * 333, 1 + value % 9, 0 FROM generate_series(1, 20000);
    INSERT INTO moz_meta VALUES ('origin_frecency_count', 300), ('origin_frecency_sum', 451500), ('sync/lastSync', '1700000000.12');
    INSERT INTO moz_keywords_wr SELECT 'kw' || value, value, CASE WHEN value % 2 = 0 THEN 'q=%s' END FROM generate_series(1, 50);
    INSERT INTO moz_places_metadata_search_queries (terms) VALUES ('sqlite backup'), ('wal mode'), ('');
  `);
  db.pragma('user_version = 77');
  db.close();
}

/**
 * A notes/mail app: STRICT, AUTOINCREMENT, generated columns, JSON, FTS5 (normal, external
 * content, contentless), FTS4, R*Tree, triggers (INSTEAD OF on a view), deferrable cascading FKs,
 * CHECK, COLLATE NOCASE/RTRIM, awkward values, and a virtual table of an extension this process
 * does not have (sqlite-vec's vec0), as such databases look to a tool without the extension.
 */
export function createAppDb(path: string): void {
  const db = open(path);
  db.pragma('application_id = 1296124236');
  db.pragma('user_version = 2026');
  db.exec(`
    CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL COLLATE NOCASE UNIQUE,
      settings TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings)), created INTEGER NOT NULL) STRICT;
    CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT,
      account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
      title TEXT COLLATE NOCASE, body TEXT, tags TEXT CHECK (tags IS NULL OR json_type(tags) = 'array'),
      code TEXT COLLATE RTRIM, title_len INTEGER GENERATED ALWAYS AS (length(title)) VIRTUAL,
      first_tag TEXT GENERATED ALWAYS AS (json_extract(tags, '$[0]')) STORED,
      CHECK (length(title) < 200));
    CREATE INDEX notes_account ON notes(account_id, id DESC);
    CREATE INDEX notes_first_tag ON notes(first_tag) WHERE first_tag IS NOT NULL;
    CREATE INDEX notes_tag_count ON notes(json_array_length(tags));
    CREATE VIRTUAL TABLE notes_fts USING fts5(title, body, content='notes', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2');
    CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
      INSERT INTO notes_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END;
    CREATE TRIGGER notes_ad AFTER DELETE ON notes BEGIN
      INSERT INTO notes_fts(notes_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); END;
    CREATE TRIGGER notes_au AFTER UPDATE ON notes BEGIN
      INSERT INTO notes_fts(notes_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
      INSERT INTO notes_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END;
    CREATE VIRTUAL TABLE notes_vocab USING fts5vocab(notes_fts, row);
    CREATE VIRTUAL TABLE search USING fts5(term, detail=column);
    CREATE TABLE search_history (id INTEGER PRIMARY KEY, term TEXT NOT NULL, at INTEGER);
    CREATE VIRTUAL TABLE log_index USING fts5(message, content='', contentless_delete=1);
    CREATE VIRTUAL TABLE legacy_mail USING fts4(subject, body, tokenize=unicode61);
    CREATE VIRTUAL TABLE places_rtree USING rtree(id, min_x, max_x, min_y, max_y);
    CREATE VIRTUAL TABLE pins_rtree USING rtree_i32(id, x0, x1, y0, y1, +label);
    CREATE TABLE attachments (id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
      name TEXT NOT NULL COLLATE NOCASE, data BLOB NOT NULL, UNIQUE (note_id, name));
    CREATE TABLE values_zoo (id INTEGER PRIMARY KEY, i INTEGER, r REAL, n NUMERIC, t TEXT, b BLOB, any_col ANY);
    CREATE TABLE kv (k TEXT PRIMARY KEY, v ANY) STRICT, WITHOUT ROWID;
    CREATE VIEW note_summary AS SELECT n.id, a.email, n.title, n.title_len FROM notes n JOIN accounts a ON a.id = n.account_id;
    CREATE TRIGGER note_summary_insert INSTEAD OF INSERT ON note_summary BEGIN
      INSERT INTO notes (account_id, title) SELECT id, new.title FROM accounts WHERE email = new.email; END;
    CREATE TRIGGER attachments_guard BEFORE INSERT ON attachments WHEN length(new.data) > 20000000 BEGIN
      SELECT RAISE(ABORT, 'attachment too large'); END;
  `);
  db.exec(`
    INSERT INTO accounts VALUES (1, 'Alice@Example.com', '{"theme":"dark","n":[1,2,3]}', 1700000000), (2, 'bob@example.com', '{}', 1700000001);
    INSERT INTO notes (account_id, title, body, tags, code) SELECT 1 + value % 2, 'Note ' || value || ' Café',
      'Body of note ' || value || ' with naïve résumé words', json_array('t' || (value % 5), 'x'), 'code   ' FROM generate_series(1, 500);
    INSERT INTO note_summary (email, title) VALUES ('ALICE@example.com', 'via the view');
    DELETE FROM notes WHERE id % 50 = 0;
    UPDATE notes SET body = body || ' (edited)' WHERE id % 7 = 0;
    INSERT INTO search(term) SELECT 'term ' || value FROM generate_series(1, 100);
    INSERT INTO search_history (term, at) SELECT 'term ' || value, 1700000000 + value FROM generate_series(1, 100);
    INSERT INTO log_index(rowid, message) SELECT value, 'log line ' || value || ' error=' || (value % 3) FROM generate_series(1, 300);
    DELETE FROM log_index WHERE rowid % 10 = 0;
    INSERT INTO legacy_mail(docid, subject, body) SELECT value, 'Subject ' || value, 'mail body ' || value FROM generate_series(1, 80);
    INSERT INTO places_rtree SELECT value, value * 1.5, value * 1.5 + 2, -value, -value + 3 FROM generate_series(1, 400);
    INSERT INTO pins_rtree SELECT value, value, value + 10, value * 2, value * 2 + 5, 'pin ' || value FROM generate_series(1, 200);
    INSERT INTO attachments (note_id, name, data) SELECT id, 'file' || id || '.bin', zeroblob(100) || randomblob(50) || x'00ff00' FROM notes WHERE id % 10 = 1;
    INSERT INTO kv VALUES ('int', 9223372036854775807), ('real', 1.5), ('text', '123'), ('blob', x'0000'), ('null', NULL);
  `);
  const zoo = db.prepare('INSERT INTO values_zoo (i, r, n, t, b, any_col) VALUES (?, ?, ?, ?, ?, ?)');
  db.defaultSafeIntegers(true);
  const rows: unknown[][] = [
    [9223372036854775807n, 1.7976931348623157e308, '12345678901234567890', '', Buffer.from([0, 0, 0]), 'text'],
    [-9223372036854775808n, -0.0, '1e500', '\0nul inside', Buffer.alloc(0), 1.25],
    ['not a number', 5e-324, 'abc', '0042', Buffer.from('\0x\0', 'latin1'), Buffer.from([0xde, 0xad])],
    [1.5, '12.5e3', 3.0, 42n, 'text in blob column', null],
    [Buffer.from([1, 0, 2]), null, null, null, null, -9223372036854775808n],
  ];
  for (const r of rows) zoo.run(...r);
  db.exec(`INSERT INTO values_zoo (i, r, n, t) VALUES (9e999, -9e999, 9e999, 'inf')`);
  db.prepare('INSERT INTO values_zoo (t) VALUES (?)').run('huge:' + 'ab\u00e9\u4e2d\n'.repeat(2 * 1024 * 1024));
  db.unsafeMode(true);
  // What a database made with the sqlite-vec extension looks like to us: a virtual table whose
  // module is not loaded, plus its shadow tables (written as `sqlite3 .dump` would restore them).
  db.exec(`
    PRAGMA writable_schema = ON;
    INSERT INTO sqlite_master (type, name, tbl_name, rootpage, sql)
      VALUES ('table', 'vec_items', 'vec_items', 0, 'CREATE VIRTUAL TABLE vec_items USING vec0(embedding float[4])');
    PRAGMA writable_schema = OFF;
    CREATE TABLE vec_items_chunks (chunk_id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL, validity BLOB NOT NULL, rowids BLOB NOT NULL);
    CREATE TABLE vec_items_rowids (rowid INTEGER PRIMARY KEY AUTOINCREMENT, id, chunk_id INTEGER, chunk_offset INTEGER);
    INSERT INTO vec_items_chunks (size, validity, rowids) VALUES (1024, zeroblob(128), zeroblob(8192));
    INSERT INTO vec_items_rowids (id, chunk_id, chunk_offset) VALUES (1, 1, 0), (2, 1, 1);
  `);
  db.unsafeMode(false);
  db.exec('ANALYZE');
  db.close();
}

/** A connection with generate_series (the sqlite3 shell has it built in; this library does not). */
function open(path: string): InstanceType<typeof Database> {
  const db = new Database(path);
  db.table('generate_series', {
    columns: ['value'],
    parameters: ['start', 'stop', 'step'],
    *rows(start: unknown, stop: unknown, step: unknown) {
      for (let v = Number(start); v <= Number(stop); v += Number(step ?? 1)) yield { value: v };
    },
  });
  return db;
}

/** `sqlite3 PATH .dump` (the system shell), as text. */
export function dumpOf(path: string): string {
  const r = spawnSync('sqlite3', ['-readonly', path, '.dump'], { maxBuffer: 1 << 30, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3 .dump ${path} failed: ${r.stderr}`);
  return r.stdout;
}

/** The first line where two dumps differ (or undefined), short enough to read in a failure. */
export function firstDifference(a: string, b: string): string | undefined {
  if (a === b) return undefined;
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) return `line ${i + 1}:\n- ${String(x[i]).slice(0, 300)}\n+ ${String(y[i]).slice(0, 300)}`;
  }
  return 'same lines, different bytes';
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Database-level settings that `.dump` does not show. */
export function pragmasOf(path: string): Record<string, unknown> {
  const db = new Database(path, { readonly: true });
  try {
    const names = ['page_size', 'auto_vacuum', 'user_version', 'application_id', 'encoding', 'journal_mode', 'freelist_count'];
    return Object.fromEntries(names.map((n) => [n, db.pragma(n, { simple: true })]));
  } finally {
    db.close();
  }
}

export function integrityOf(path: string): string {
  const r = spawnSync('sqlite3', ['-readonly', path, 'PRAGMA integrity_check;'], { encoding: 'utf8' });
  return `${r.stdout.trim()}${r.stderr.trim()}`;
}
