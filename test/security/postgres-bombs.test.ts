import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zstdZeros } from '../helpers/bombs.js';
import { runCli } from '../helpers/cli.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres-server.js';
import { tempDir } from '../helpers/temp.js';
import { MiB, PEAK_RSS_LIMIT, replacePart, runMeasured } from './craft.js';

/*
 * Crafted PostgreSQL backups against the restore readers: toc.json is read whole, data parts are
 * streamed into COPY. Each part is replaced by a zstd bomb and its stored sha256/size fixed in the
 * manifest (so the stored-bytes check passes); restore must fail with exit 4, change nothing it
 * was not already allowed to, and keep the CLI's peak RSS under 300 MB.
 */

let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let repos = 0;

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-sec-pg-')]);
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), XDG_STATE_HOME: join(dir.path, 'state'), PGPASSWORD: undefined, PGHOST: undefined, PGPORT: undefined, PGUSER: undefined, PGDATABASE: undefined };
  await server.query('CREATE DATABASE shop');
  await server.query("CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) g;", [], 'shop');
});

afterAll(async () => {
  await server?.stop();
  await dir?.cleanup();
});

interface Part {
  name: string;
  role: string;
  rawSize: number;
}

async function backup(): Promise<{ repo: string; id: string; backupDir: string; parts: Part[] }> {
  const repo = join(dir.path, `repo-${++repos}`);
  const b = await runCli(['backup', '--db', 'postgres', '--url', server.url('shop'), '--out', repo, '--json'], { env, cwd: dir.path });
  expect(b.code, b.stderr).toBe(0);
  const { id, source, manifest } = JSON.parse(b.stdout) as { id: string; source: string; manifest: { parts: Part[] } };
  return { repo, id, backupDir: join(repo, source, id), parts: manifest.parts };
}

const restore = (repo: string, id: string, database: string) =>
  runMeasured(['restore', '--from', repo, '--backup', id, '--db', 'postgres', '--url', server.url(database), '--create'], { env, cwd: dir.path });

const databaseExists = async (name: string) => (await server.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).length > 0;

describe('security: decompression bombs in a PostgreSQL backup', () => {
  it('toc.json decoding to 256 MiB while declaring its real size: exit 4 (E_CHECKSUM), no database created, bounded memory', async () => {
    const { repo, id, backupDir } = await backup();
    await replacePart(backupDir, 'toc.json.zst', zstdZeros(256 * MiB));
    const r = await restore(repo, id, 'bomb_toc');
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/E_CHECKSUM.*toc\.json\.zst.*decodes to more than/s);
    expect(r.peakRss).toBeLessThan(PEAK_RSS_LIMIT);
    expect(await databaseExists('bomb_toc')).toBe(false);

    const v = await runMeasured(['verify', '--from', repo, id], { env, cwd: dir.path });
    expect(v.code, v.stderr).toBe(4);
    expect(v.peakRss).toBeLessThan(PEAK_RSS_LIMIT);
  });

  it('toc.json declaring 500 MiB (zeros, consistent checksums): refused before it is read (E_TOO_LARGE), bounded memory', async () => {
    const { repo, id, backupDir } = await backup();
    await replacePart(backupDir, 'toc.json.zst', zstdZeros(500 * MiB), 500 * MiB);
    const r = await restore(repo, id, 'big_toc');
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/E_TOO_LARGE.*toc\.json\.zst.*over the 64 MiB/s);
    expect(r.peakRss).toBeLessThan(PEAK_RSS_LIMIT);
    expect(await databaseExists('big_toc')).toBe(false);
  });

  it('a data part decoding to 1 GiB while declaring its real size: exit 4 (E_CHECKSUM), no row loaded, bounded memory', async () => {
    const { repo, id, backupDir, parts } = await backup();
    const data = parts.find((p) => p.role === 'data')!;
    await replacePart(backupDir, data.name, zstdZeros(1024 * MiB));
    const r = await restore(repo, id, 'bomb_data');
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`E_CHECKSUM.*${data.name.replace(/\./g, '\\.')}.*decodes to more than the ${data.rawSize} bytes`, 's'));
    expect(r.peakRss).toBeLessThan(PEAK_RSS_LIMIT);
    // The schema went in before the data part failed (as for any damage found mid-restore); its COPY was rolled back.
    expect(r.stderr).toMatch(/Not restored: data of public\.items/);
    expect(await server.query('SELECT count(*)::int AS n FROM items', [], 'bomb_data')).toEqual([{ n: 0 }]);
  });
});
