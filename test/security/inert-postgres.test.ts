import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres-server.js';
import { tempDir } from '../helpers/temp.js';
import { backupFolder, tamperText } from './tamper.js';

interface TocJson {
  items: { name: string; copy?: { object: string; ident: string; columns: string[] } }[];
}

/** Crafted PostgreSQL backups (toc.json edited, checksums fixed) against a real server. */
describe('a crafted PostgreSQL backup restores inertly', () => {
  let server: PostgresServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  let counter = 0;
  const cli = (...args: string[]) => runCli(args, { env });

  beforeAll(async () => {
    [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-inert-pg-')]);
    env = { DBBACKUP_DATA_DIR: join(dir.path, 'data') };
    await server.query('CREATE DATABASE shop');
    await server.query(`CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'tea'), (2, 'cake');`, [], 'shop');
  });
  afterAll(async () => {
    await server?.stop();
    await dir?.cleanup();
  });

  async function backup(): Promise<{ repo: string; id: string; folder: string }> {
    const repo = join(dir.path, `repo${++counter}`);
    const b = await cli('backup', '--db', 'postgres', '--url', server.url('shop'), '--out', repo, '--compress', 'none', '--json');
    expect(b.code, b.stderr).toBe(0);
    const { id } = JSON.parse(b.stdout) as { id: string };
    return { repo, id, folder: await backupFolder(repo, id) };
  }

  const databases = async () => (await server.query<{ d: string }>('SELECT datname AS d FROM pg_database ORDER BY 1')).map((r) => r.d);
  const pwned = () => join(dir.path, 'pwned');
  const editCopy = (edit: (copy: NonNullable<TocJson['items'][number]['copy']>) => void) => (text: string) => {
    const toc = JSON.parse(text) as TocJson;
    edit(toc.items.find((i) => i.copy?.object === 'public.items')!.copy!);
    return JSON.stringify(toc);
  };

  it('restores the untampered backup', async () => {
    const { repo, id } = await backup();
    const r = await cli('restore', '--from', repo, '--backup', id, '--db', 'postgres', '--url', server.url('legit'), '--create');
    expect(r.code, r.stderr).toBe(0);
    expect(await server.query('SELECT id, name FROM items ORDER BY id', [], 'legit')).toEqual([
      { id: 1, name: 'tea' },
      { id: 2, name: 'cake' },
    ]);
  });

  const cases: { name: string; edit: (copy: NonNullable<TocJson['items'][number]['copy']>) => void }[] = [
    { name: 'a COPY target carrying more statements', edit: (c) => (c.ident = `public.items FROM PROGRAM 'touch ${pwned()}'; COPY public.items`) },
    { name: 'a COPY column list carrying a PROGRAM', edit: (c) => (c.columns = [`"id") FROM PROGRAM 'touch ${pwned()}' --`]) },
    { name: 'a COPY into a table the manifest does not declare', edit: (c) => Object.assign(c, { object: 'public.other', ident: 'public.other' }) },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}: verify passes, restore exits 4 and creates nothing`, async () => {
      const { repo, id, folder } = await backup();
      await tamperText(folder, (p) => p.name === 'toc.json', editCopy(c.edit));
      expect((await cli('verify', '--from', repo, id)).code).toBe(0);
      const before = await databases();
      const r = await cli('restore', '--from', repo, '--backup', id, '--db', 'postgres', '--url', server.url(`t${counter}`), '--create');
      expect(r.code, r.stdout + r.stderr).toBe(4);
      expect(r.stderr).toMatch(/E_UNSAFE_BACKUP.*COPY/);
      expect(await databases()).toEqual(before);
      expect(await stat(pwned()).catch(() => undefined)).toBeUndefined();
    });
  }
});
