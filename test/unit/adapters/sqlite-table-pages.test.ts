import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TablePagesDigest, tablePagesFromMap } from '../../../src/adapters/connectors/sqlite/sqlite-table-pages.js';
import { mapFileOf } from '../../../src/adapters/connectors/sqlite/sqlite-map-file.js';
import { hashPage } from '../../../src/adapters/connectors/sqlite/sqlite-page-map.js';
import { Database } from '../../helpers/sqlite-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
let file: string;
const PAGE = 1024;

beforeAll(async () => {
  dir = await tempDir('dbb-tpages-');
  file = join(dir.path, 't.db');
  const db = new Database(file);
  db.pragma(`page_size = ${PAGE}`);
  // Rows with values longer than a page (overflow chains), two tables and an index interleaved in the file.
  db.exec(`CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b (id INTEGER PRIMARY KEY, v BLOB); CREATE INDEX av ON a(v);`);
  const ia = db.prepare('INSERT INTO a (v) VALUES (?)');
  const ib = db.prepare('INSERT INTO b (v) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 300; i++) {
      ia.run(`row ${i} ${'x'.repeat(i % 7 === 0 ? 3000 : 40)}`);
      ib.run(Buffer.alloc(i % 5 === 0 ? 2500 : 30, i));
    }
  })();
  db.close();
});
afterAll(async () => {
  await dir.cleanup();
});

/** The tables' hashes of `path`'s bytes, fed in chunks of `chunk` bytes. */
function digestOf(path: string, chunk: number, tables = ['a', 'b']): Map<string, string> {
  const db = new Database(path, { readonly: true });
  try {
    const digest = TablePagesDigest.open(db, tables, PAGE)!;
    const bytes = readFileSync(path);
    for (let at = 0; at < bytes.length; at += chunk) digest.push(bytes.subarray(at, at + chunk));
    return digest.finish();
  } finally {
    db.close();
  }
}

describe('per-table hashes of SQLite pages', () => {
  it('is sha256 over each of the table’s pages (number and page-map hash) in page order, its overflow pages included, whatever the chunking', () => {
    const db = new Database(file, { readonly: true });
    const bytes = readFileSync(file);
    // An independent figure: the pages of b's b-tree and overflow chains as dbstat lists them, hashed by hand.
    const pages = db.prepare("SELECT pageno, pagetype FROM dbstat WHERE name = 'b' ORDER BY pageno").all() as { pageno: number; pagetype: string }[];
    db.close();
    expect(pages.some((p) => p.pagetype === 'overflow')).toBe(true);
    const h = createHash('sha256');
    for (const { pageno } of pages) {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(pageno);
      h.update(head).update(hashPage(bytes.subarray((pageno - 1) * PAGE, pageno * PAGE)).subarray(0, 16));
    }
    const whole = digestOf(file, bytes.length);
    expect(whole.get('b')).toBe(h.digest('hex').slice(0, 16));
    expect(digestOf(file, 700)).toEqual(whole);
    expect([...whole.keys()]).toEqual(['a', 'b']);
    expect(whole.get('a')).toMatch(/^[0-9a-f]{16}$/);
    expect(whole.get('a')).not.toBe(whole.get('b'));
  });

  it('changes for the table whose page changed, not for the others; an index is no table', async () => {
    const before = digestOf(file, 4096, ['a', 'b', 'av']);
    const db = new Database(file);
    db.prepare("UPDATE b SET v = x'00' WHERE id = 7").run();
    db.close();
    const after = digestOf(file, 4096, ['a', 'b', 'av']);
    expect(after.get('a')).toBe(before.get('a'));
    expect(after.get('av')).toBe(before.get('av'));
    expect(after.get('b')).not.toBe(before.get('b'));
  });

  it('from a recorded page map (as verify --deep reads it): the same hashes as from the pages; an entry changed changes only its table', async () => {
    const bytes = readFileSync(file);
    const pages = bytes.length / PAGE;
    const entries = Buffer.concat(Array.from({ length: pages }, (_, i) => hashPage(bytes.subarray(i * PAGE, (i + 1) * PAGE)).subarray(0, 16)));
    const db = new Database(file, { readonly: true });
    try {
      const root = db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'b'").pluck().get() as number;
      const fromMap = await tablePagesFromMap(db, ['a', 'b'], await mapFileOf(entries, PAGE, join(dir.path, 'good.map')), new AbortController().signal);
      expect(fromMap).toEqual(digestOf(file, 4096));
      entries[(root - 1) * 16] ^= 1;
      const changed = await tablePagesFromMap(db, ['a', 'b'], await mapFileOf(entries, PAGE, join(dir.path, 'bad.map')), new AbortController().signal);
      expect(changed!.get('a')).toBe(fromMap!.get('a'));
      expect(changed!.get('b')).not.toBe(fromMap!.get('b'));
    } finally {
      db.close();
    }
  });

  it('refuses pages that end before the b-trees do, and frees the connection when closed early', () => {
    const db = new Database(file, { readonly: true });
    try {
      const digest = TablePagesDigest.open(db, ['a'], PAGE)!;
      digest.push(readFileSync(file).subarray(0, PAGE * 3));
      expect(() => digest.finish()).toThrow(expect.objectContaining({ code: 'E_DIFFERENT' }));
      const early = TablePagesDigest.open(db, ['a'], PAGE)!;
      early.close();
      expect(db.prepare('SELECT count(*) AS n FROM a').get()).toEqual({ n: 300 });
    } finally {
      db.close();
    }
  });
});
