import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipZeros, zstdZeros } from '../helpers/bombs.js';
import { runCli } from '../helpers/cli.js';
import { Database } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';
import { MiB, PEAK_RSS_LIMIT, replacePart, runMeasured } from './craft.js';

/*
 * Decompression bombs in a SQLite backup, crafted as an attacker with write access to the
 * repository would: a part replaced by a few KiB that decode to hundreds of MiB, its stored sha256
 * and size fixed in manifest.json so that the stored-bytes check passes. verify and restore must
 * fail with exit 4 (E_CHECKSUM) once the decoded bytes pass the declared size, write nothing to
 * the target, and keep the CLI's peak RSS under 300 MB.
 */

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let db: string;
let repos = 0;

beforeAll(async () => {
  dir = await tempDir('dbb-sec-sqlite-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), XDG_STATE_HOME: join(dir.path, 'state') };
  db = join(dir.path, 'app.db');
  const d = new Database(db);
  d.exec("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT); INSERT INTO t (b) VALUES ('one'), ('two');");
  d.close();
});

afterAll(async () => {
  await dir.cleanup();
});

/** A fresh backup of the database into a repository of its own: its id and the folder of its parts. */
async function backup(compress: 'zstd' | 'gzip'): Promise<{ repo: string; id: string; backupDir: string }> {
  const repo = join(dir.path, `repo-${++repos}`);
  const b = await runCli(['backup', '--db', 'sqlite', '--file', db, '--out', repo, '--compress', compress, '--json'], { env, cwd: dir.path });
  expect(b.code, b.stderr).toBe(0);
  const { id, source } = JSON.parse(b.stdout) as { id: string; source: string };
  return { repo, id, backupDir: join(repo, source, id) };
}

const measured = (args: string[]) => runMeasured(args, { env, cwd: dir.path });

/** verify and restore of a crafted backup both fail as an integrity error, in bounded memory. */
async function expectRefused(repo: string, id: string, message: RegExp): Promise<void> {
  const v = await measured(['verify', '--from', repo, id]);
  expect(v.code, v.stderr).toBe(4);
  expect(v.stderr).toMatch(/E_CHECKSUM/);
  expect(v.stderr).toMatch(message);
  expect(v.peakRss).toBeLessThan(PEAK_RSS_LIMIT);

  const target = `restored-${repos}.db`;
  const r = await measured(['restore', '--from', repo, '--backup', id, '--db', 'sqlite', '--file', target]);
  expect(r.code, r.stderr).toBe(4);
  expect(r.stderr).toMatch(/E_CHECKSUM/);
  expect(r.stderr).toMatch(message);
  expect(r.peakRss).toBeLessThan(PEAK_RSS_LIMIT);
  // Nothing at the target, and no temp file left beside it.
  expect((await readdir(dir.path)).filter((f) => f.startsWith(target))).toEqual([]);
}

describe('security: decompression bombs in a SQLite backup', () => {
  it('a zstd part of 32 KiB decoding to 1 GiB, declared as 8 KiB: exit 4, nothing restored, bounded memory', async () => {
    const { repo, id, backupDir } = await backup('zstd');
    await replacePart(backupDir, 'data/main.0.sqlite.zst', zstdZeros(1024 * MiB));
    await expectRefused(repo, id, /decodes to more than the 8192 bytes the manifest records/);
  });

  it('a gzip part of 256 KiB decoding to 256 MiB, declared as 8 KiB: exit 4, nothing restored, bounded memory', async () => {
    const { repo, id, backupDir } = await backup('gzip');
    await replacePart(backupDir, 'data/main.0.sqlite.gz', await gzipZeros(256 * MiB));
    await expectRefused(repo, id, /decodes to more than the 8192 bytes the manifest records/);
  });

  it('verify decodes every part: a bomb in the schema part (which a SQLite restore never reads) fails it', async () => {
    const { repo, id, backupDir } = await backup('zstd');
    await replacePart(backupDir, 'schema.sql.zst', zstdZeros(64 * MiB));
    const v = await measured(['verify', '--from', repo, id]);
    expect(v.code, v.stderr).toBe(4);
    expect(v.stderr).toMatch(/E_CHECKSUM.*schema\.sql\.zst.*decodes to more than/s);
    expect(v.peakRss).toBeLessThan(PEAK_RSS_LIMIT);
  });

  it('a zstd part that decodes to less than it declares fails as truncated, also on restore', async () => {
    const { repo, id, backupDir } = await backup('zstd');
    await replacePart(backupDir, 'data/main.0.sqlite.zst', zstdZeros(4096), 8192);
    const r = await measured(['restore', '--from', repo, '--backup', id, '--db', 'sqlite', '--file', 'short.db']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/E_TRUNCATED/);
    expect((await readdir(dir.path)).filter((f) => f.startsWith('short.db'))).toEqual([]);
  });

  it('a part that really is 1 GiB of zeros, declared so, streams through verify in bounded memory', async () => {
    const { repo, id, backupDir } = await backup('zstd');
    await replacePart(backupDir, 'data/main.0.sqlite.zst', zstdZeros(1024 * MiB), 1024 * MiB);
    const v = await measured(['verify', '--from', repo, id]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.peakRss).toBeLessThan(PEAK_RSS_LIMIT);
  });
});
