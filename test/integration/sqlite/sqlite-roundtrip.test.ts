import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appServices, type AppServices, buildContainer } from '../../../src/bootstrap/container.js';
import { contentHashes, createNastyDatabase, Database, schemaOf } from '../../helpers/sqlite-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
let app: AppServices;
let source: string;
const signal = () => new AbortController().signal;
const sqlite = (database: string) => ({ engine: 'sqlite' as const, database });

beforeAll(async () => {
  dir = await tempDir('dbb-sqlite-');
  app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
  source = join(dir.path, 'nasty.db');
  createNastyDatabase(source);
});

afterAll(async () => {
  app.close();
  await dir.cleanup();
});

const backupTo = (repository: string, extra: object = {}) =>
  app.runBackup.execute({ target: sqlite(source), repository, kind: 'full', compression: { codec: 'zstd' }, parallel: 1, ...extra }, signal());

describe('SQLite backup and restore', () => {
  for (const out of ['repo', 'one.tar.gz', 'one.zip']) {
    it(`restores an identical database from ${out}`, async () => {
      const repository = join(dir.path, out);
      const { manifest } = await backupTo(repository);
      expect(manifest.objects.find((o) => o.name === 'people')?.rows).toBe(7);
      expect(manifest.engineInfo.userVersion).toBe(42);
      const target = join(dir.path, `restored-${out}.db`);
      await app.restoreBackup.execute({ repository, backup: 'latest', target: sqlite(target), clean: false }, signal());
      expect(schemaOf(target)).toEqual(schemaOf(source));
      expect(contentHashes(target)).toEqual(contentHashes(source));
      const db = new Database(target, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(42);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
    });
  }

  it('refuses a non-empty target unless --clean, then replaces it', async () => {
    const repository = join(dir.path, 'repo');
    const target = join(dir.path, 'occupied.db');
    const db = new Database(target);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE precious (x); INSERT INTO precious VALUES (1);');
    db.close();
    await expect(
      app.restoreBackup.execute({ repository, backup: 'latest', target: sqlite(target), clean: false }, signal()),
    ).rejects.toMatchObject({ code: 'E_TARGET_EXISTS' });
    expect(schemaOf(target).length).toBe(1);
    await app.restoreBackup.execute({ repository, backup: 'latest', target: sqlite(target), clean: true }, signal());
    expect(contentHashes(target)).toEqual(contentHashes(source));
  });

  it('restores chosen tables with their indexes, triggers and AUTOINCREMENT counter, all or nothing', async () => {
    const repository = join(dir.path, 'repo');
    const target = join(dir.path, 'partial.db');
    const r = await app.restoreBackup.execute(
      { repository, backup: 'latest', target: sqlite(target), clean: false, tables: ['people', 'orders', 'big_spenders'] },
      signal(),
    );
    expect(r.outcome?.objects.sort()).toEqual(['big_spenders', 'orders', 'people']);
    const names = schemaOf(target).map((r) => (r as { name: string }).name);
    expect(names).toEqual(expect.arrayContaining(['people', 'orders', 'orders_person', 'people_nick', 'big_spenders', 'orders_audit', 'sqlite_sequence']));
    expect(names).not.toContain('no_pk');
    const full = contentHashes(source);
    const part = contentHashes(target);
    expect(part.people).toEqual(full.people);
    expect(part.orders).toEqual(full.orders);
    expect(part.sqlite_sequence).toEqual(full.sqlite_sequence);
    // A second restore of the same table clashes; --clean replaces just that table.
    await expect(
      app.restoreBackup.execute({ repository, backup: 'latest', target: sqlite(target), clean: false, tables: ['orders'] }, signal()),
    ).rejects.toMatchObject({ code: 'E_TARGET_EXISTS' });
    // All or nothing: a restore of a new table and a clashing one leaves the target as it was.
    const before = contentHashes(target);
    await expect(
      app.restoreBackup.execute({ repository, backup: 'latest', target: sqlite(target), clean: false, tables: ['no_pk', 'orders'] }, signal()),
    ).rejects.toMatchObject({ code: 'E_TARGET_EXISTS' });
    expect(schemaOf(target).map((r) => (r as { name: string }).name)).not.toContain('no_pk');
    expect(contentHashes(target)).toEqual(before);
    await app.restoreBackup.execute({ repository, backup: 'latest', target: sqlite(target), clean: true, tables: ['no_pk'] }, signal());
    expect(contentHashes(target).no_pk).toEqual(full.no_pk);
    await expect(
      app.restoreBackup.execute({ repository, backup: 'latest', target: sqlite(target), clean: false, tables: ['nope'] }, signal()),
    ).rejects.toMatchObject({ code: 'E_USAGE' });
  });

  it('backs up only the chosen tables with --tables / --exclude-tables', async () => {
    const repository = join(dir.path, 'filtered');
    const { manifest } = await backupTo(repository, { excludeTables: ['people', 'big_spenders'], source: 'filtered' });
    const names = manifest.objects.map((o) => o.name);
    expect(names).toContain('orders');
    expect(names).not.toContain('people');
    await expect(backupTo(repository, { tables: ['missing'] })).rejects.toMatchObject({ code: 'E_USAGE' });
  });

  it('says clearly when the source is missing or not SQLite', async () => {
    await expect(
      app.runBackup.execute({ target: sqlite(join(dir.path, 'none.db')), repository: join(dir.path, 'r2'), kind: 'full', compression: { codec: 'zstd' }, parallel: 1 }, signal()),
    ).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    const notDb = join(dir.path, 'text.db');
    await writeFile(notDb, 'hello, I am not a database, but I am long enough');
    await expect(
      app.runBackup.execute({ target: sqlite(notDb), repository: join(dir.path, 'r2'), kind: 'full', compression: { codec: 'zstd' }, parallel: 1 }, signal()),
    ).rejects.toMatchObject({ code: 'E_SOURCE_INVALID' });
  });
});

describe('SQLite snapshot consistency', () => {
  it('captures one consistent state while another process keeps writing', async () => {
    const db = join(dir.path, 'busy.db');
    const setup = new Database(db);
    setup.pragma('journal_mode = WAL');
    setup.exec('CREATE TABLE account (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL); CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER, pad TEXT);');
    const ins = setup.prepare('INSERT INTO account VALUES (?, 1000)');
    for (let i = 1; i <= 100; i++) ins.run(i);
    setup.close();
    // The writer moves money between accounts and logs each move: the total is always 100 000
    // and the ledger sums to 0 — any torn snapshot breaks one of the two.
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `
        const D = require('better-sqlite3'); const db = new D(process.argv[1]); db.pragma('busy_timeout = 10000');
        const move = db.transaction((a, b, n) => {
          db.prepare('UPDATE account SET balance = balance - ? WHERE id = ?').run(n, a);
          db.prepare('INSERT INTO ledger (amount, pad) VALUES (?, ?)').run(-n, 'x'.repeat(500));
          db.prepare('UPDATE account SET balance = balance + ? WHERE id = ?').run(n, b);
          db.prepare('INSERT INTO ledger (amount, pad) VALUES (?, ?)').run(n, 'y'.repeat(500));
        });
        const end = Date.now() + 6000; let i = 0;
        while (Date.now() < end) { move(1 + (i % 100), 1 + ((i * 7) % 100), 1 + (i % 13)); i++; }
        console.log(i);
        `,
        db,
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let moves = '';
    writer.stdout!.on('data', (d: Buffer) => (moves += d.toString()));
    const exited = new Promise((r) => writer.on('close', r));
    await new Promise((r) => setTimeout(r, 1000));
    const repository = join(dir.path, 'busy-repo');
    const snaps: string[] = [];
    for (let i = 0; i < 3; i++) {
      await app.runBackup.execute({ target: sqlite(db), repository, kind: 'full', compression: { codec: 'zstd' }, parallel: 1 }, signal());
    }
    await exited;
    expect(Number(moves)).toBeGreaterThan(100);
    const list = await app.listBackups.execute({ repository }, signal());
    expect(list.backups).toHaveLength(3);
    for (const b of list.backups) {
      const target = join(dir.path, `busy-${b.id}.db`);
      await app.restoreBackup.execute({ repository, backup: b.id, target: sqlite(target), clean: false }, signal());
      const r = new Database(target, { readonly: true });
      const total = (r.prepare('SELECT sum(balance) AS s FROM account').get() as { s: number }).s;
      const ledger = r.prepare('SELECT count(*) AS n, coalesce(sum(amount), 0) AS s FROM ledger').get() as { n: number; s: number };
      r.close();
      expect(total).toBe(100_000);
      expect(ledger.s).toBe(0);
      expect(ledger.n % 2).toBe(0);
      snaps.push(String(ledger.n));
    }
    // The writer was really running during the backups: the snapshots differ.
    expect(new Set(snaps).size).toBeGreaterThan(1);
  });
});
