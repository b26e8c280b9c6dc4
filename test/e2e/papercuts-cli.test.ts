// The papercuts of issue 24, each as a new user meets it: a damaged part the restore does not read,
// damaged manifests in `list --from`, a source's one target, a short wrong passphrase.
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createNastyDatabase } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let db: string;

beforeAll(async () => {
  dir = await tempDir('dbb-papercuts-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), XDG_STATE_HOME: join(dir.path, 'state'), PASS_A: 'first passphrase 123', SHORT: 'abc' };
  db = join(dir.path, 'app.db');
  createNastyDatabase(db);
});

afterAll(async () => {
  await dir.cleanup();
});

const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });

async function backupInto(repo: string, ...extra: string[]): Promise<{ id: string; folder: string }> {
  const b = await cli('backup', '--file', db, '--out', repo, '--json', ...extra);
  expect(b.code, b.stderr).toBe(0);
  const { id, source } = JSON.parse(b.stdout) as { id: string; source: string };
  return { id, folder: join(dir.path, repo, source, id) };
}

describe('papercuts (issue 24)', () => {
  for (const [damage, edit, code] of [
    ['truncated', (p: string) => truncate(p, 5), /E_TRUNCATED/],
    ['byte-flipped', async (p: string) => {
      const bytes = await readFile(p);
      bytes[Math.floor(bytes.length / 2)] ^= 0x01;
      await writeFile(p, bytes);
    }, /E_CHECKSUM/],
  ] as const) {
    it(`a restore refuses a backup whose schema.sql part is ${damage}, naming it, and writes no target`, async () => {
      const repo = `schema-${damage}`;
      const { folder } = await backupInto(repo);
      const schema = (await readdir(folder)).find((f) => f.startsWith('schema.sql'))!;
      expect(schema).toBeDefined();
      await edit(join(folder, schema));
      const target = join(dir.path, `schema-${damage}.db`);
      const r = await cli('restore', '--from', repo, '--database', target);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(code);
      expect(r.stderr).toContain(schema);
      expect(r.stderr).toMatch(/nothing was restored/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  }

  it('a restore refuses a backup whose page map (a part a full restore never reads) is damaged', async () => {
    const { folder } = await backupInto('pagemap');
    const map = (await readdir(join(folder, 'changes')))[0]!;
    await truncate(join(folder, 'changes', map), 3);
    const target = join(dir.path, 'pagemap.db');
    const r = await cli('restore', '--from', 'pagemap', '--database', target);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`changes/${map}`);
    await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('list --from shows damaged manifests as damaged with their paths, exits 5, and logs the key unredacted', async () => {
    const a = await backupInto('damaged-list');
    const b = await backupInto('damaged-list');
    await writeFile(join(a.folder, 'manifest.json'), '{"formatVersion": 2, "id": ');
    await writeFile(join(b.folder, 'manifest.json'), '[]');
    const human = await cli('list', '--from', 'damaged-list');
    expect(human.code, human.stderr).toBe(5);
    expect(human.stdout).not.toContain('No backups found.');
    for (const x of [a, b]) {
      expect(human.stdout).toMatch(new RegExp(`${x.id} .*damaged .*${x.id}/manifest\\.json`));
    }
    expect(human.stderr).not.toContain('[redacted]');
    expect(human.stderr).toContain(`${a.id}/manifest.json`);
    const json = await cli('list', '--from', 'damaged-list', '--json');
    expect(json.code).toBe(5);
    const out = JSON.parse(json.stdout) as { ok: boolean; backups: unknown[]; damaged: { id: string; path: string; code: string }[] };
    expect(out.ok).toBe(false);
    expect(out.backups).toEqual([]);
    expect(out.damaged.map((d) => d.id).sort()).toEqual([a.id, b.id].sort());
    expect(out.damaged.every((d) => d.path.endsWith('/manifest.json') && /^E_[A-Z_]+$/.test(d.code))).toBe(true);
    // One good backup next to the damaged ones: it is listed as complete, and the exit still says partial.
    const c = await backupInto('damaged-list');
    const mixed = JSON.parse((await cli('list', '--from', 'damaged-list', '--json')).stdout) as { backups: { id: string; status: string }[] };
    expect(mixed.backups).toEqual([expect.objectContaining({ id: c.id, status: 'complete' })]);
  });

  it('a source with no backups.<name>.targets uses the config\'s only target; with two it asks', async () => {
    const config = join(dir.path, 'one-target.yaml');
    await writeFile(config, `sources:\n  app: { engine: sqlite, database: ${db} }\ntargets:\n  disk: { url: ${join(dir.path, 'only-target')} }\n`);
    const b = await cli('--config', config, 'backup', '--source', 'app', '--json');
    expect(b.code, b.stderr).toBe(0);
    expect((JSON.parse(b.stdout) as { repository: string }).repository).toBe(join(dir.path, 'only-target'));
    const two = join(dir.path, 'two-targets.yaml');
    await writeFile(two, `sources:\n  app: { engine: sqlite, database: ${db} }\ntargets:\n  a: { url: ${join(dir.path, 'ta')} }\n  b: { url: ${join(dir.path, 'tb')} }\n`);
    const t = await cli('--config', two, 'backup', '--source', 'app');
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/^error E_USAGE: Source "app" has no targets/m);
  });

  it('a restore with a wrong passphrase shorter than the minimum fails as a wrong key (exit 4)', async () => {
    const { id } = await backupInto('enc', '--encrypt', '--passphrase-env', 'PASS_A');
    const r = await cli('restore', '--from', 'enc', '--backup', id, '--database', join(dir.path, 'enc.db'), '--passphrase-env', 'SHORT');
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/^error E_KEY: .*wrong passphrase/m);
    expect(r.stderr).not.toMatch(/too short/);
    // A new backup with that passphrase is still refused as too short.
    const b = await cli('backup', '--file', db, '--out', 'enc-new', '--encrypt', '--passphrase-env', 'SHORT');
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/too short/);
  });
});
