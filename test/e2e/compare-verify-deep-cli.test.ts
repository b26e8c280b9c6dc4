// `dbbackup compare` and `verify --deep` as a user runs them, on SQLite files (the server engines
// are covered against real servers in test/integration/restore-marker-compare.test.ts).
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createNastyDatabase, Database } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });

beforeAll(async () => {
  dir = await tempDir('dbb-cmp-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), XDG_STATE_HOME: join(dir.path, 'state'), TMPDIR: dir.path };
  createNastyDatabase(join(dir.path, 'app.db'));
});
afterAll(async () => {
  await dir.cleanup();
});

describe('compare and verify --deep (SQLite)', () => {
  it('compare: a restored copy is the same; a changed value or a NULL for an empty string differs (exit 4)', async () => {
    expect((await cli('backup', '--file', 'app.db', '--out', 'repo')).code).toBe(0);
    expect((await cli('restore', '--from', 'repo', '--database', 'copy.db')).code).toBe(0);
    const same = await cli('compare', 'app.db', 'copy.db');
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toMatch(/All \d+ table\(s\) are the same\./);

    const copy = new Database(join(dir.path, 'copy.db'));
    const [table] = copy.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name").pluck().all() as string[];
    copy.close();

    const edit = new Database(join(dir.path, 'copy.db'));
    edit.exec(`CREATE TABLE plain (x TEXT); INSERT INTO plain VALUES ('')`);
    edit.close();
    const src = new Database(join(dir.path, 'app.db'));
    src.exec(`CREATE TABLE plain (x TEXT); INSERT INTO plain VALUES (NULL)`);
    src.close();
    const differs = await cli('compare', 'app.db', 'copy.db', '--json');
    expect(differs.code).toBe(4);
    const out = JSON.parse(differs.stdout) as { same: boolean; tables: { table: string; same: boolean }[]; error: { code: string } };
    expect(out.same).toBe(false);
    expect(out.error.code).toBe('E_DIFFERENT');
    expect(out.tables.filter((t) => !t.same).map((t) => t.table)).toEqual(['plain']);
    expect((await cli('compare', 'app.db', 'copy.db', '--tables', table!)).code).toBe(0);
    const human = await cli('compare', 'app.db', 'copy.db');
    expect(human.stderr.trim()).toBe('error E_DIFFERENT: 1 of ' + out.tables.length + ' table(s) differ: plain.');
    const unknown = await cli('compare', 'app.db', 'copy.db', '--tables', 'nope');
    // Both databases are read at once: the message names whichever was found without the table first.
    expect(unknown.code).toBe(2);
    expect([`error E_USAGE: ${join(dir.path, 'app.db')} has no table nope.`, `error E_USAGE: ${join(dir.path, 'copy.db')} has no table nope.`]).toContain(unknown.stderr.trim());
  });

  it('verify --deep restores into a scratch file, checks every table (count, and its pages against the recorded page map), and removes it; a table whose pages differ from the recorded map fails (exit 4) named', async () => {
    const r = await cli('verify', '--from', 'repo', 'latest', '--deep', '--json');
    expect(r.code, r.stderr).toBe(0);
    type Checked = { table: string; ok: boolean; rows: number; expectedRows: number; pagesHash?: string; expectedPagesHash?: string };
    const out = JSON.parse(r.stdout) as { deep: { tables: Checked[] } };
    expect(out.deep.tables.length).toBeGreaterThan(1);
    // Each table's pages by the page map the backup recorded as its pages streamed (a live WAL read) and by the scratch file's pages: the same.
    for (const t of out.deep.tables) expect(t).toMatchObject({ ok: true, rows: t.expectedRows, expectedPagesHash: expect.stringMatching(/^[0-9a-f]{16}$/), pagesHash: t.expectedPagesHash });
    expect(new Set(out.deep.tables.map((t) => t.pagesHash)).size).toBe(out.deep.tables.length);
    expect((await readdir(dir.path)).filter((n) => n.startsWith('dbbackup-verify-'))).toEqual([]);

    // A repository without encryption or compression whose recorded page map says another hash for
    // the root page of one table, the part's checksum rewritten to match (so verify's checksums and
    // the restore pass: the restored pages are the data part's): exit 4, that table named.
    const first = out.deep.tables[0]!.table;
    expect((await cli('backup', '--file', 'app.db', '--out', 'repo-raw', '--compress', 'none')).code).toBe(0);
    const [id] = await readdir(join(dir.path, 'repo-raw', 'app'));
    const folder = join(dir.path, 'repo-raw', 'app', id!);
    const manifest = JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8')) as { parts: { name: string; codecs: string[]; sha256: string; rawSha256?: string }[] };
    const mapPart = manifest.parts.find((p) => p.name.startsWith('changes/pagemap'))!;
    expect(mapPart.codecs).toEqual([]);
    const src = new Database(join(dir.path, 'app.db'), { readonly: true });
    const root = src.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').pluck().get(first) as number;
    src.close();
    const map = await readFile(join(folder, mapPart.name));
    map[16 + (root - 1) * 16] ^= 0xff; // the 16-byte header, then a 16-byte entry a page
    await writeFile(join(folder, mapPart.name), map);
    mapPart.sha256 = createHash('sha256').update(map).digest('hex');
    if (mapPart.rawSha256) mapPart.rawSha256 = mapPart.sha256;
    await writeFile(join(folder, 'manifest.json'), JSON.stringify(manifest));
    expect((await cli('verify', '--from', 'repo-raw', 'latest')).code).toBe(0);
    const differs = await cli('verify', '--from', 'repo-raw', 'latest', '--deep');
    const escaped = first.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect([differs.code, differs.stderr.trim()]).toEqual([
      4,
      expect.stringMatching(new RegExp(`^error E_DIFFERENT: Backup ${id} restored into a scratch database does not hold what it recorded: ${escaped} holds other pages \\(hash [0-9a-f]{16}, the backup recorded [0-9a-f]{16}\\)\\.$`)),
    ]);
    expect((await readdir(dir.path)).filter((n) => n.startsWith('dbbackup-verify-'))).toEqual([]);

    // A --tables backup records no page map: its tables are checked by their counts (and rows read).
    expect((await cli('backup', '--file', 'app.db', '--out', 'repo-one', '--tables', first)).code).toBe(0);
    const one = await cli('verify', '--from', 'repo-one', 'latest', '--deep', '--json');
    expect(one.code, one.stderr).toBe(0);
    const oneTables = (JSON.parse(one.stdout) as { deep: { tables: Checked[] } }).deep.tables;
    expect(oneTables).toEqual([expect.objectContaining({ table: first, ok: true, rows: oneTables[0]!.expectedRows })]);
    expect(oneTables[0]!.expectedPagesHash).toBeUndefined();
    const usage = await cli('verify', '--from', 'repo', 'latest', '--scratch', 'postgres://x@127.0.0.1/db');
    expect([usage.code, usage.stderr.trim()]).toEqual([2, 'error E_USAGE: --scratch goes with --deep.']);
  });
});
