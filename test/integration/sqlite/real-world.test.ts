import { spawn, spawnSync } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appServices, type AppServices, buildContainer } from '../../../src/bootstrap/container.js';
import { Database } from '../../helpers/sqlite-fixtures.js';
import { tempDir } from '../../helpers/temp.js';
import { createAppDb, createChinook, createPlaces, dumpOf, firstDifference, integrityOf, pragmasOf } from './real-world-fixtures.js';

let dir: { path: string; cleanup(): Promise<void> };
let app: AppServices;
const signal = () => new AbortController().signal;
const sqlite = (database: string) => ({ engine: 'sqlite' as const, database });
const at = (name: string) => join(dir.path, name);

beforeAll(async () => {
  dir = await tempDir('dbb-sqlite-rw-');
  app = appServices(buildContainer({ dataDir: at('data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
  createChinook(at('chinook.db'));
  createPlaces(at('places.db'));
  createAppDb(at('app.db'));
});

afterAll(async () => {
  app.close();
  await dir.cleanup();
});

const backup = (db: string, source: string, extra: object = {}) =>
  app.runBackup.execute({ target: sqlite(at(db)), repository: at('repo'), source, kind: 'full', compression: { codec: 'zstd' }, parallel: 1, ...extra }, signal());
const restore = (source: string, target: string, extra: object = {}) =>
  app.restoreBackup.execute({ repository: at('repo'), source, backup: 'latest', target: sqlite(at(target)), clean: false, ...extra }, signal());
const tableRows = (path: string, sql: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
};

function expectSameDatabase(source: string, restored: string): void {
  expect(firstDifference(dumpOf(source), dumpOf(restored))).toBeUndefined();
  expect(integrityOf(restored)).toBe('ok');
  expect(pragmasOf(restored)).toEqual(pragmasOf(source));
}

describe('real-world SQLite databases: whole backup and restore', () => {
  for (const [db, source] of [
    ['chinook.db', 'chinook'],
    ['places.db', 'places'],
    ['app.db', 'app'],
  ] as const) {
    it(`${db}: the restored database dumps identically and passes integrity_check`, async () => {
      const { manifest } = await backup(db, source);
      expect(manifest.objects.length).toBeGreaterThan(5);
      await restore(source, `${source}-restored.db`);
      expectSameDatabase(at(db), at(`${source}-restored.db`));
    });
  }

  it('records row counts, keeps shadow tables out of the object list, and says what it cannot count', async () => {
    const { manifest } = await backup('app.db', 'app');
    const objects = new Map(manifest.objects.map((o) => [o.name, o]));
    expect(objects.get('notes')?.rows).toBe(491);
    expect(objects.get('notes_fts')?.type).toBe('virtual table');
    expect(objects.get('search_history')).toMatchObject({ type: 'table', rows: 100 });
    expect(objects.get('places_rtree')).toMatchObject({ type: 'virtual table', rows: 400 });
    for (const shadow of ['notes_fts_data', 'notes_fts_idx', 'search_config', 'places_rtree_node', 'legacy_mail_segdir']) {
      expect(objects.has(shadow)).toBe(false);
    }
    expect(objects.get('vec_items')).toMatchObject({ type: 'virtual table' });
    expect(objects.get('vec_items')?.rows).toBeUndefined();
    expect(manifest.warnings.join('\n')).toMatch(/vec_items.*vec0/);
    expect(manifest.engineInfo).toMatchObject({ userVersion: 2026, applicationId: 1296124236 });
  });
});

describe('real-world SQLite databases: single-table restore', () => {
  it('restores a table whose foreign-key parents are not restored, and warns about them', async () => {
    await backup('chinook.db', 'chinook');
    // Table names match as SQLite matches them: without regard to case.
    const r = await restore('chinook', 'tracks-only.db', { tables: ['track'] });
    expect(r.outcome?.objects).toEqual(['Track']);
    expect(r.outcome?.warnings?.join('\n')).toMatch(/Track.*references.*Album/);
    expect(tableRows(at('tracks-only.db'), 'SELECT count(*) AS n FROM Track')).toEqual([{ n: 3503 }]);
    const names = tableRows(at('tracks-only.db'), "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name");
    expect(names).toEqual([{ name: 'IFK_TrackAlbumId' }, { name: 'IFK_TrackGenreId' }]);
    // Adding the parent later: the tables already there that point at it are checked row by row.
    const r1 = await restore('chinook', 'tracks-only.db', { tables: ['Album'] });
    expect(r1.outcome?.warnings?.join('\n')).toMatch(/"Album" references "Artist"/);
    expect(r1.outcome?.warnings?.join('\n')).toMatch(/"Track" has \d+ row\(s\) whose foreign key points at a row the target does not have/);
    const lines = await restore('chinook', 'invoices.db', { tables: ['InvoiceLine', 'Invoice'] });
    expect(lines.outcome?.objects.sort()).toEqual(['Invoice', 'InvoiceLine']);
    expect(tableRows(at('invoices.db'), "SELECT name FROM sqlite_master WHERE type = 'trigger'")).toEqual([{ name: 'invoice_line_total' }]);
    // With the parents, the composite-key junction table restores without a warning.
    const r2 = await restore('chinook', 'playlists.db', { tables: ['Playlist', 'PlaylistTrack', 'Track', 'Album', 'Artist', 'Genre', 'MediaType'] });
    expect(r2.outcome?.warnings ?? []).toEqual([]);
    expect(tableRows(at('playlists.db'), 'PRAGMA foreign_key_check')).toEqual([]);
    expect(tableRows(at('playlists.db'), 'SELECT count(*) AS n FROM PlaylistTrack')).toEqual(tableRows(at('chinook.db'), 'SELECT count(*) AS n FROM PlaylistTrack'));
  });

  it('restores FTS5 (external content, contentless, plain), FTS4 and R*Tree tables with their indexes intact', async () => {
    await backup('app.db', 'app');
    const r = await restore('app', 'search.db', { tables: ['notes', 'accounts', 'notes_fts', 'notes_vocab', 'search', 'log_index', 'legacy_mail', 'places_rtree', 'pins_rtree'] });
    expect(r.outcome?.warnings ?? []).toEqual([]);
    const t = at('search.db');
    expect(integrityOf(t)).toBe('ok');
    const q = (sql: string) => tableRows(t, sql);
    const s = (sql: string) => tableRows(at('app.db'), sql);
    for (const sql of [
      "SELECT rowid, title FROM notes_fts WHERE notes_fts MATCH 'resume' ORDER BY rowid LIMIT 5",
      "SELECT count(*) AS n FROM notes_fts WHERE notes_fts MATCH 'edited'",
      'SELECT term, doc, cnt FROM notes_vocab ORDER BY term LIMIT 20',
      "SELECT rowid FROM log_index WHERE log_index MATCH 'error' ORDER BY rowid",
      "SELECT rowid, term FROM search WHERE search MATCH 'term' ORDER BY rowid",
      "SELECT docid, subject FROM legacy_mail WHERE legacy_mail MATCH 'mail' ORDER BY docid",
      'SELECT id FROM places_rtree WHERE min_x > 100 AND max_x < 200 ORDER BY id',
      'SELECT * FROM pins_rtree WHERE x0 > 50 ORDER BY id',
      "SELECT * FROM sqlite_sequence WHERE name = 'notes'",
    ]) {
      expect(q(sql), sql).toEqual(s(sql));
    }
    expect(q("SELECT rtreecheck('places_rtree') AS c")).toEqual([{ c: 'ok' }]);
    // FTS5's own consistency check raises an error when the index and its content disagree.
    const db = new Database(t);
    db.exec("INSERT INTO notes_fts(notes_fts) VALUES ('integrity-check'); INSERT INTO search(search) VALUES ('integrity-check');");
    db.exec("INSERT INTO notes (account_id, title, body) VALUES (1, 'fresh', 'searchable afterwards')");
    expect(db.prepare("SELECT count(*) AS n FROM notes_fts WHERE notes_fts MATCH 'afterwards'").get()).toEqual({ n: 1 });
    db.close();
  });

  it('keeps a table whose name starts like a virtual table (search_history next to search) selectable', async () => {
    await backup('app.db', 'app');
    const r = await restore('app', 'history.db', { tables: ['search_history'] });
    expect(r.outcome?.objects).toEqual(['search_history']);
    expect(tableRows(at('history.db'), "SELECT name FROM sqlite_master WHERE name LIKE 'search%' ORDER BY name")).toEqual([{ name: 'search_history' }]);
  });

  it('restores a view with its INSTEAD OF trigger and warns about the tables it needs', async () => {
    await backup('app.db', 'app');
    const r = await restore('app', 'view.db', { tables: ['note_summary'] });
    expect(r.outcome?.warnings?.join('\n')).toMatch(/note_summary.*(notes|accounts)/);
    const names = tableRows(at('view.db'), 'SELECT type, name FROM sqlite_master ORDER BY name');
    expect(names).toEqual([
      { type: 'view', name: 'note_summary' },
      { type: 'trigger', name: 'note_summary_insert' },
    ]);
  });

  it('warns when restored triggers write to tables that were not restored', async () => {
    await backup('app.db', 'app');
    const r = await restore('app', 'notes-only.db', { tables: ['notes'] });
    const warnings = r.outcome?.warnings?.join('\n') ?? '';
    expect(warnings).toMatch(/notes_ai.*notes_fts/);
    expect(warnings).toMatch(/notes.*references.*accounts/);
  });

  it('refuses, with a clear message, a virtual table whose module this build lacks', async () => {
    await backup('app.db', 'app');
    await expect(restore('app', 'vec.db', { tables: ['vec_items'] })).rejects.toMatchObject({
      code: 'E_UNSUPPORTED',
      message: expect.stringMatching(/vec_items.*vec0.*whole database/),
    });
    expect(await stat(at('vec.db')).then((s) => s.size).catch(() => 0)).toBe(0);
  });
});

describe('real-world SQLite databases: filters, schema.sql, encodings', () => {
  it('backs up with --tables / --exclude-tables around virtual tables, including one whose module is missing', async () => {
    const { manifest } = await backup('app.db', 'app-filtered', { excludeTables: ['vec_items', 'notes_fts', 'search'] });
    const names = manifest.objects.map((o) => o.name);
    expect(names).toEqual(expect.arrayContaining(['notes', 'search_history', 'log_index', 'places_rtree']));
    expect(names).not.toEqual(expect.arrayContaining(['vec_items']));
    expect(names).not.toContain('search');
    await restore('app-filtered', 'filtered.db');
    expect(integrityOf(at('filtered.db'))).toBe('ok');
    const left = tableRows(at('filtered.db'), "SELECT name FROM sqlite_master WHERE name LIKE 'vec_items%' OR name LIKE 'notes_fts%' OR name LIKE 'search%' ORDER BY name");
    expect(left).toEqual([{ name: 'search_history' }]);
    expect(manifest.warnings.join('\n')).toMatch(/notes_ai.*notes_fts.*back up "notes_fts" too/);
    const only = await backup('app.db', 'app-history', { tables: ['search_history'] });
    expect(only.manifest.objects.map((o) => o.name)).toEqual(['search_history']);
    expect(only.manifest.warnings).toEqual([]);
    const tracks = await backup('chinook.db', 'chinook-tracks', { tables: ['Track', 'PlaylistTrack'] });
    expect(tracks.manifest.warnings.join('\n')).toMatch(/"Track" references "Album".*this backup leaves out/);
  });

  // log_index is left out only because the system sqlite3 (3.40) predates its contentless_delete option.
  it('writes a schema.sql that the sqlite3 shell runs as is', async () => {
    const { manifest } = await app.runBackup.execute(
      { target: sqlite(at('app.db')), repository: at('plain'), source: 'app', kind: 'full', compression: { codec: 'none' }, parallel: 1, excludeTables: ['vec_items', 'log_index'] },
      signal(),
    );
    const part = manifest.parts.find((p) => p.role === 'schema')!;
    const r = spawnSync('sqlite3', [at('from-schema.db'), `.read ${join(at('plain'), 'app', manifest.id, part.name)}`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const made = tableRows(at('from-schema.db'), "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name");
    const restored = tableRows(at('app.db'), "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'vec_items%' AND name NOT LIKE 'log_index%' ORDER BY name");
    expect(made).toEqual(restored);
    const { journal_mode: _j, freelist_count: _f, ...settings } = pragmasOf(at('app.db'));
    expect(pragmasOf(at('from-schema.db'))).toMatchObject(settings);
  });

  it('replaces an FTS5 table with --clean and refuses without it', async () => {
    await backup('app.db', 'app');
    await restore('app', 'fts-twice.db', { tables: ['search'] });
    await expect(restore('app', 'fts-twice.db', { tables: ['search'] })).rejects.toMatchObject({ code: 'E_TARGET_EXISTS' });
    await restore('app', 'fts-twice.db', { tables: ['search'], clean: true });
    expect(tableRows(at('fts-twice.db'), "SELECT count(*) AS n FROM search WHERE search MATCH 'term'")).toEqual([{ n: 100 }]);
    const db = new Database(at('fts-twice.db'));
    db.exec("INSERT INTO search(search) VALUES ('integrity-check')");
    db.close();
  });

  it('replaces (--clean) an existing database of another page size and journal mode', async () => {
    await backup('places.db', 'places');
    await backup('chinook.db', 'chinook');
    for (const [source, original, mode] of [
      ['places', 'places.db', 'DELETE'],
      ['chinook', 'chinook.db', 'WAL'],
      ['places', 'places.db', 'WAL'],
    ] as const) {
      const target = at(`occupied-${source}-${mode}.db`);
      const db = new Database(target);
      db.pragma(`journal_mode = ${mode}`);
      db.exec('CREATE TABLE precious (x); INSERT INTO precious VALUES (1);');
      db.close();
      await expect(restore(source, `occupied-${source}-${mode}.db`)).rejects.toMatchObject({ code: 'E_TARGET_EXISTS' });
      await restore(source, `occupied-${source}-${mode}.db`, { clean: true });
      expectSameDatabase(at(original), target);
      expect((await readdir(dir.path)).filter((f) => f.includes('dbbackup-tmp'))).toEqual([]);
    }
  });

  it('round-trips a UTF-16 database, whole and table by table', async () => {
    const path = at('utf16.db');
    const db = new Database(path);
    db.pragma("encoding = 'UTF-16le'");
    db.exec("CREATE TABLE words (id INTEGER PRIMARY KEY, w TEXT COLLATE NOCASE); INSERT INTO words (w) VALUES ('héllo'), ('日本語'), ('😀'), ('');");
    db.close();
    await backup('utf16.db', 'utf16');
    await restore('utf16', 'utf16-restored.db');
    expectSameDatabase(path, at('utf16-restored.db'));
    await restore('utf16', 'utf16-table.db', { tables: ['words'] });
    expect(tableRows(at('utf16-table.db'), 'SELECT w FROM words ORDER BY id')).toEqual(tableRows(path, 'SELECT w FROM words ORDER BY id'));
  });
});

describe('real-world SQLite databases: WAL with a live writer', () => {
  it('backs up the WAL a crashed (killed) writer left behind', async () => {
    const db = at('crashed.db');
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `
        const D = require('better-sqlite3'); const db = new D(process.argv[1]);
        db.pragma('journal_mode = WAL'); db.pragma('wal_autocheckpoint = 0');
        db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
        const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
        for (let i = 0; i < 2000; i++) ins.run('row ' + i);
        process.stdout.write('written\\n'); setInterval(() => {}, 1000);
        `,
        db,
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => writer.stdout!.on('data', () => resolve()));
    writer.kill('SIGKILL');
    await new Promise((r) => writer.on('close', r));
    expect((await stat(`${db}-wal`)).size).toBeGreaterThan(10_000);
    const { manifest } = await backup('crashed.db', 'crashed');
    expect(manifest.objects.find((o) => o.name === 't')?.rows).toBe(2000);
    await restore('crashed', 'crashed-restored.db');
    expect(tableRows(at('crashed-restored.db'), 'SELECT count(*) AS n FROM t')).toEqual([{ n: 2000 }]);
    expect(firstDifference(dumpOf(db), dumpOf(at('crashed-restored.db')))).toBeUndefined();
  });

  it('rolls back the hot journal a crashed writer left in a rollback-journal database', async () => {
    const db = at('hot.db');
    const setup = new Database(db);
    setup.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('committed');");
    setup.close();
    // A tiny page cache makes the open transaction spill its pages into the database file; the
    // kill leaves those half-written pages plus a hot journal that every reader must roll back.
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `
        const D = require('better-sqlite3'); const db = new D(process.argv[1]); db.pragma('cache_size = 5');
        db.exec('BEGIN'); const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
        for (let i = 0; i < 5000; i++) ins.run('uncommitted ' + 'x'.repeat(200));
        process.stdout.write('spilled\\n'); setInterval(() => {}, 1000);
        `,
        db,
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => writer.stdout!.on('data', () => resolve()));
    writer.kill('SIGKILL');
    await new Promise((r) => writer.on('close', r));
    expect((await stat(`${db}-journal`)).size).toBeGreaterThan(0);
    const { manifest } = await backup('hot.db', 'hot');
    expect(manifest.objects.find((o) => o.name === 't')?.rows).toBe(1);
    await restore('hot', 'hot-restored.db');
    expect(tableRows(at('hot-restored.db'), 'SELECT v FROM t')).toEqual([{ v: 'committed' }]);
    expect(integrityOf(at('hot-restored.db'))).toBe('ok');
  });

  it('includes un-checkpointed WAL content, does not checkpoint the source, and stays consistent under writes', async () => {
    const db = at('live.db');
    const setup = new Database(db);
    setup.pragma('journal_mode = WAL');
    setup.exec('CREATE TABLE batch (id INTEGER PRIMARY KEY, batch INTEGER NOT NULL, payload TEXT); CREATE INDEX batch_no ON batch(batch);');
    setup.close();
    // The writer keeps the database open with auto-checkpoint off, so every commit stays in the WAL.
    // Each transaction writes 10 rows of one batch: a torn snapshot shows a batch without 10 rows.
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `
        const D = require('better-sqlite3'); const db = new D(process.argv[1]);
        db.pragma('busy_timeout = 10000'); db.pragma('wal_autocheckpoint = 0');
        const ins = db.prepare('INSERT INTO batch (batch, payload) VALUES (?, ?)');
        const write = db.transaction((b) => { for (let i = 0; i < 10; i++) ins.run(b, 'p'.repeat(300) + b); });
        let b = 0; for (; b < 200; b++) write(b);
        process.stdout.write('paused\\n');
        process.stdin.once('data', () => {
          const end = Date.now() + 4000; while (Date.now() < end) write(b++);
          process.stdout.write('done ' + b + '\\n'); db.close();
        });
        `,
        db,
      ],
      { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const lines: string[] = [];
    const waitFor = (prefix: string) =>
      new Promise<void>((resolve) => {
        const check = () => (lines.some((l) => l.startsWith(prefix)) ? resolve() : setTimeout(check, 20));
        check();
      });
    writer.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n')));
    await waitFor('paused');
    const walBefore = (await stat(`${db}-wal`)).size;
    expect(walBefore).toBeGreaterThan(100_000);
    await backup('live.db', 'live');
    expect((await stat(`${db}-wal`)).size).toBe(walBefore);
    await restore('live', 'live-restored.db');
    expect(firstDifference(dumpOf(db), dumpOf(at('live-restored.db')))).toBeUndefined();

    writer.stdin!.write('go\n');
    for (let i = 0; i < 3; i++) {
      await backup('live.db', 'live');
      await restore('live', `live-${i}.db`);
      const counts = tableRows(at(`live-${i}.db`), 'SELECT batch, count(*) AS n FROM batch GROUP BY batch HAVING n <> 10');
      expect(counts).toEqual([]);
      expect(integrityOf(at(`live-${i}.db`))).toBe('ok');
    }
    await waitFor('done');
  });
});
