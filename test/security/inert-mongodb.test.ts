import { join } from 'node:path';
import { BSON } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type CongoHandle, startCongo } from '../helpers/congodb.js';
import { tempDir } from '../helpers/temp.js';
import { backupFolder, tamperText } from './tamper.js';

/** Crafted MongoDB backups (metadata.json edited, checksums fixed) against the CongoDB stand-in. */
describe('a crafted MongoDB backup restores inertly', () => {
  let congo: CongoHandle;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  let counter = 0;
  const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });

  beforeAll(async () => {
    [congo, dir] = await Promise.all([startCongo(), tempDir('dbb-inert-mongo-')]);
    env = { DBBACKUP_DATA_DIR: join(dir.path, 'data') };
    await congo.client.db('shop').collection('items').insertMany([{ _id: 1, name: 'tea' } as never, { _id: 2, name: 'cake' } as never]);
    await congo.client.db('shop').collection('items').createIndex({ name: 1 }, { name: 'by_name' });
  });
  afterAll(async () => {
    await congo?.stop();
    await dir?.cleanup();
  });

  async function backup(): Promise<{ repo: string; id: string; folder: string }> {
    const repo = join(dir.path, `repo${++counter}`);
    const b = await cli('backup', '--db', 'mongodb', '--url', congo.url(), '--database', 'shop', '--out', repo, '--compress', 'none', '--json');
    expect(b.code, b.stderr).toBe(0);
    const { id } = JSON.parse(b.stdout) as { id: string };
    return { repo, id, folder: await backupFolder(repo, id) };
  }

  const editMeta = (edit: (meta: Record<string, any>) => void) => (text: string) => {
    const meta = BSON.EJSON.parse(text, { relaxed: false }) as Record<string, any>;
    edit(meta);
    return BSON.EJSON.stringify(meta, { relaxed: false });
  };
  const collections = async (db: string) => (await congo.client.db(db).listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();

  it('restores the untampered backup under another name', async () => {
    const { repo, id } = await backup();
    const r = await cli('restore', '--from', repo, '--backup', id, '--db', 'mongodb', '--url', congo.url(), '--target-database', 'legit');
    expect(r.code, r.stderr).toBe(0);
    expect(await congo.client.db('legit').collection('items').find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 1, name: 'tea' },
      { _id: 2, name: 'cake' },
    ]);
  });

  const cases: { name: string; edit: (meta: Record<string, any>) => void; message: RegExp }[] = [
    { name: 'options.create, which would rename the collection', edit: (m) => (m.options = { ...(m.options ?? {}), create: 'elsewhere' }), message: /options.*\(create\)/ },
    { name: 'a command field ($db) among the options', edit: (m) => (m.options = { $db: 'admin' }), message: /options.*\$db/ },
    { name: 'a view where the manifest declares a collection', edit: (m) => (m.options = { viewOn: 'other', pipeline: [] }), message: /view.*declares a collection/ },
    { name: 'an index with a field createIndexes does not take', edit: (m) => m.indexes.push({ v: 2, key: { x: 1 }, name: 'x_1', createIndexes: 'elsewhere' }), message: /index x_1/ },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}: verify passes, restore exits 4 and creates nothing`, async () => {
      const { repo, id, folder } = await backup();
      await tamperText(folder, (p) => p.name.endsWith('.metadata.json'), editMeta(c.edit));
      expect((await cli('verify', '--from', repo, id)).code).toBe(0);
      const target = `t${counter}`;
      const r = await cli('restore', '--from', repo, '--backup', id, '--db', 'mongodb', '--url', congo.url(), '--target-database', target);
      expect(r.code, r.stdout + r.stderr).toBe(4);
      expect(r.stderr).toMatch(/E_UNSAFE_BACKUP/);
      expect(r.stderr).toMatch(c.message);
      expect(await collections(target)).toEqual([]);
      expect(await collections('elsewhere')).toEqual([]);
    });
  }
});
