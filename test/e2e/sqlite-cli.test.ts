import { execFileSync, spawn } from 'node:child_process';
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../helpers/cli.js';
import { contentHashes, createNastyDatabase, Database, schemaOf } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let db: string;

beforeAll(async () => {
  dir = await tempDir('dbb-e2e-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), XDG_STATE_HOME: join(dir.path, 'state') };
  db = join(dir.path, 'app.db');
  createNastyDatabase(db);
});

afterAll(async () => {
  await dir.cleanup();
});

const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });

/** Resolves once a backup into `out` (folder or archive) has started writing bytes. */
async function waitForWriting(out: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  const target = join(dir.path, out);
  for (;;) {
    const writing = out.endsWith('.tar.gz')
      ? (await readdir(dir.path)).some((f) => f.startsWith(`${out}.dbbackup-tmp-`))
      : (await readdir(target, { recursive: true }).catch(() => [] as string[])).some((f) => String(f).includes('main.0.sqlite'));
    if (writing) return;
    if (Date.now() > deadline) throw new Error(`the backup into ${out} never started writing`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('dbbackup CLI with SQLite', () => {
  it('backup → list → verify → restore gives an identical database', async () => {
    // The backup also records which Node built-ins it loaded: it spawns nothing and gzips nothing,
    // so child_process and zlib (start-up time in every run) must stay unloaded.
    const loaded = join(dir.path, 'loaded.txt');
    const probe = join(dir.path, 'loaded.cjs');
    await writeFile(probe, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loaded)}, process.moduleLoadList.join('\\n')));\n`);
    const b = await runCli(['backup', '--db', 'sqlite', '--file', db, '--out', 'backups', '--json'], {
      env: { ...env, NODE_OPTIONS: `--require ${probe}` },
      cwd: dir.path,
    });
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const builtins = (await readFile(loaded, 'utf8')).split('\n');
    expect(builtins).toContain('NativeModule fs');
    expect(builtins.filter((m) => /^NativeModule (child_process|zlib)$/.test(m))).toEqual([]);
    const { id } = JSON.parse(b.stdout) as { id: string };
    expect(id).toMatch(/^\d{8}T\d{6}Z-full-[a-z0-9]{4}$/);

    const list = await cli('list', '--json');
    expect(list.code).toBe(0);
    const backups = (JSON.parse(list.stdout) as { backups: { id: string; status: string; engine: string }[] }).backups;
    expect(backups).toEqual([expect.objectContaining({ id, status: 'complete', engine: 'sqlite' })]);
    const human = await cli('list');
    expect(human.stdout).toContain(id);

    const v = await cli('verify', id);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('intact');

    const r = await cli('restore', '--from', 'backups', '--backup', id, '--db', 'sqlite', '--file', 'restored.db');
    expect(r.code).toBe(0);
    const restored = join(dir.path, 'restored.db');
    expect(schemaOf(restored)).toEqual(schemaOf(db));
    expect(contentHashes(restored)).toEqual(contentHashes(db));
  });

  it('rebuilds a lost catalog from the repository manifests', async () => {
    const lost = { DBBACKUP_DATA_DIR: join(dir.path, 'fresh-data') };
    const empty = await runCli(['list', '--json'], { env: lost, cwd: dir.path });
    expect((JSON.parse(empty.stdout) as { backups: unknown[] }).backups).toEqual([]);
    const scanned = await runCli(['list', '--from', 'backups', '--json'], { env: lost, cwd: dir.path });
    const found = (JSON.parse(scanned.stdout) as { backups: { id: string }[] }).backups;
    expect(found).toHaveLength(1);
    const again = await runCli(['list', '--refresh', '--json'], { env: lost, cwd: dir.path });
    expect((JSON.parse(again.stdout) as { backups: { id: string }[] }).backups.map((b) => b.id)).toEqual(found.map((b) => b.id));
  });

  for (const ext of ['tar.gz', 'zip']) {
    it(`writes a .${ext} archive that restores, and that tar/unzip can read`, async () => {
      const out = join(dir.path, `single.${ext}`);
      const b = await cli('backup', '--file', db, '--out', out);
      expect(b.code).toBe(0);
      const r = await cli('restore', '--file', out, '--db', 'sqlite', '--file', join(dir.path, `from-${ext}.db`));
      expect(r.code, r.stderr).toBe(0);
      expect(contentHashes(join(dir.path, `from-${ext}.db`))).toEqual(contentHashes(db));
      const unpack = join(dir.path, `unpacked-${ext}`);
      await new Promise<void>((resolve, reject) => {
        const p = ext === 'zip' ? spawn('python3', ['-m', 'zipfile', '-e', out, unpack]) : spawn('tar', ['xzf', out, '-C', dir.path, '--one-top-level=' + unpack]);
        p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`unpack exit ${code}`))));
      });
      const src = (await readdir(unpack)).find((n) => n !== 'dbbackup-repo.json')!;
      const [bid] = await readdir(join(unpack, src));
      const file = join(unpack, src, bid!, 'data', 'main.0.sqlite');
      expect(contentHashes(file)).toEqual(contentHashes(db));
      expect(await readFile(join(unpack, src, bid!, 'schema.sql'), 'utf8')).toContain('CREATE TABLE people');
    });
  }

  it('a dry-run restore prints the plan and changes nothing', async () => {
    const target = join(dir.path, 'occupied.db');
    const t = new Database(target);
    t.exec('CREATE TABLE mine (x); INSERT INTO mine VALUES (1);');
    t.close();
    const before = await readFile(target);
    const r = await cli('restore', '--from', 'backups', '--database', target, '--dry-run');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Dry run/);
    expect(r.stdout).toContain('people');
    expect(r.stdout).toContain('NOT empty');
    expect(r.stdout).toContain('--clean');
    expect((await readFile(target)).equals(before)).toBe(true);
    const refused = await cli('restore', '--from', 'backups', '--database', target);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/E_TARGET_EXISTS.*--clean/);
    expect((await readFile(target)).equals(before)).toBe(true);
    const json = await cli('restore', '--from', 'backups', '--database', target, '--dry-run', '--json');
    const plan = (JSON.parse(json.stdout) as { plan: { targetExists: boolean; targetEmpty: boolean; items: unknown[] } }).plan;
    expect(plan).toMatchObject({ targetExists: true, targetEmpty: false });
    expect(plan.items.length).toBeGreaterThan(3);
  });

  it('every restore runs integrity_check: a full whose index misses a row fails (exit 4); --no-integrity-check restores it and says so', async () => {
    // quick_check passes this file; only integrity_check compares the index with its table.
    const bad = join(dir.path, 'bad-index.db');
    execFileSync('sqlite3', [
      bad,
      "CREATE TABLE t(a TEXT); CREATE INDEX i ON t(a); INSERT INTO t VALUES ('b'),('A'),('c'),('B'),('a'); PRAGMA writable_schema=1; UPDATE sqlite_schema SET sql='CREATE INDEX i ON t(a COLLATE NOCASE)' WHERE name='i';",
    ]);
    expect(execFileSync('sqlite3', [bad, 'PRAGMA quick_check']).toString().trim()).toBe('ok');
    const b = await cli('backup', '--db', 'sqlite', '--file', bad, '--out', 'bad-index', '--json');
    expect(b.code).toBe(0);
    const checked = await cli('restore', '--from', 'bad-index', '--db', 'sqlite', '--file', 'bad-restored.db');
    expect(checked.code).toBe(4);
    expect(checked.stderr).toContain('E_CHECKSUM');
    expect(checked.stderr).toContain('integrity_check: row 4 missing from index i');
    await expect(stat(join(dir.path, 'bad-restored.db'))).rejects.toThrow();
    const unchecked = await cli('restore', '--from', 'bad-index', '--db', 'sqlite', '--file', 'bad-restored.db', '--no-integrity-check', '--json');
    expect(unchecked.code).toBe(0);
    expect((JSON.parse(unchecked.stdout) as { warnings: string[] }).warnings).toEqual([expect.stringContaining('--no-integrity-check')]);
  });

  it('verify and restore exit 4 when one stored byte is flipped', async () => {
    const b = await cli('backup', '--file', db, '--out', 'flip', '--json');
    const { id, source } = JSON.parse(b.stdout) as { id: string; source: string };
    const dataDir = join(dir.path, 'flip', source, id, 'data');
    const [part] = await readdir(dataDir);
    const path = join(dataDir, part!);
    const bytes = await readFile(path);
    bytes[Math.floor(bytes.length / 2)] ^= 0x10;
    await writeFile(path, bytes);
    const v = await cli('verify', '--from', 'flip', 'latest');
    expect(v.code).toBe(4);
    expect(v.stderr).toMatch(/E_CHECKSUM/);
    expect(v.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const target = join(dir.path, 'never.db');
    const r = await cli('restore', '--from', 'flip', '--database', target);
    expect(r.code).toBe(4);
    await expect(stat(target)).rejects.toThrow();
  });

  it('verify and restore exit 4 on a truncated archive', async () => {
    for (const ext of ['tar.gz', 'zip']) {
      const out = join(dir.path, `cut.${ext}`);
      expect((await cli('backup', '--file', db, '--out', out)).code).toBe(0);
      const { size } = await stat(out);
      await truncate(out, Math.floor(size * 0.6));
      const v = await cli('verify', out);
      expect(v.code, `${ext}: ${v.stderr}`).toBe(4);
      expect(v.stderr).toMatch(/E_TRUNCATED|E_CHECKSUM/);
      const r = await cli('restore', '--file', out, '--database', join(dir.path, `cut-${ext}.db`));
      expect(r.code).toBe(4);
      await expect(stat(join(dir.path, `cut-${ext}.db`))).rejects.toThrow();
    }
  });

  it('a backup killed mid-way never appears in list and cannot be restored', async () => {
    const big = join(dir.path, 'big.db');
    const b = new Database(big);
    b.exec(`CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB);
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 80000) INSERT INTO blobs SELECT x, randomblob(1000) FROM c;`);
    b.close();
    // Kill once the backup is writing (its files exist), then again a little later in the stream.
    for (const [out, extra] of [['killed-repo', 0], ['killed.tar.gz', 0], ['killed-repo', 400]] as const) {
      const child = spawn(process.execPath, [BIN, 'backup', '--file', big, '--out', out, '--compress', 'gzip', '--level', '9'], {
        cwd: dir.path,
        env: { ...process.env, ...env },
        stdio: 'ignore',
      });
      await waitForWriting(out);
      await new Promise((r) => setTimeout(r, extra));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
    }
    const list = await cli('list', '--json', '--source', 'big');
    expect((JSON.parse(list.stdout) as { backups: unknown[] }).backups).toEqual([]);
    const fromRepo = await cli('list', '--from', 'killed-repo', '--json');
    expect(fromRepo.code).toBe(0);
    expect((JSON.parse(fromRepo.stdout) as { backups: unknown[] }).backups).toEqual([]);
    const r = await cli('restore', '--from', 'killed-repo', '--database', join(dir.path, 'killed.db'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_BACKUP_NOT_FOUND/);
    await expect(stat(join(dir.path, 'killed.tar.gz'))).rejects.toThrow();
  });

  it('interrupting a backup with SIGINT removes its parts and exits non-zero', async () => {
    const child = spawn(process.execPath, [BIN, 'backup', '--file', join(dir.path, 'big.db'), '--out', 'sigint-repo', '--compress', 'gzip', '--level', '9'], {
      cwd: dir.path,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitForWriting('sigint-repo');
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).toBe(1);
    expect(stderr).toMatch(/E_INTERRUPTED/);
    const files = await readdir(join(dir.path, 'sigint-repo'), { recursive: true });
    expect(files.filter((f) => String(f).includes('main.0.sqlite') || String(f).endsWith('manifest.json'))).toEqual([]);
  });

  it('storage usage sums what the catalog knows, and rereads one repository with --target', async () => {
    const r = await cli('storage', 'usage', '--json');
    expect(r.code, r.stderr).toBe(0);
    const usage = JSON.parse(r.stdout) as { totalBytes: number; groups: { source: string; bytes: number; objects: number }[]; largest: unknown[] };
    expect(usage.totalBytes).toBe(usage.groups.reduce((n, g) => n + g.bytes, 0));
    expect(usage.groups.find((g) => g.source === 'app')!.objects).toBeGreaterThanOrEqual(3);
    const one = await cli('storage', 'usage', '--target', 'backups', '--json');
    const oneUsage = JSON.parse(one.stdout) as { groups: { repository: string }[] };
    expect(oneUsage.groups.map((g) => g.repository)).toEqual([join(dir.path, 'backups')]);
  });

  it('has --help with examples for every command, and exit 2 for bad usage', async () => {
    for (const command of ['backup', 'restore', 'list', 'verify']) {
      const h = await cli(command, '--help');
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/Examples/);
    }
    const top = await cli('--help');
    expect(top.stdout).toMatch(/backup/);
    expect((await cli('backup', '--nope')).code).toBe(2);
    const noOut = await cli('backup', '--file', db);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/E_USAGE.*--out/);
    const missing = await cli('backup', '--file', join(dir.path, 'missing.db'), '--out', 'x');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/E_NOT_FOUND.*missing\.db/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    const level = await cli('backup', '--file', db, '--out', 'lvl', '--compress', 'gzip', '--level', '12');
    expect(level.code).toBe(2);
  });
});
