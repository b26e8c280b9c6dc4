import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BSON, Int32 } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type CongoHandle, startCongo } from '../helpers/congodb.js';
import { startTcpGate } from '../helpers/tcp-gate.js';
import { tempDir } from '../helpers/temp.js';
import { anyDb, EXACT, snapshot, typedDocuments } from '../integration/mongodb/fixtures.js';

let dir: { path: string; cleanup(): Promise<void> };
let congo: CongoHandle;
let env: NodeJS.ProcessEnv;
const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });

beforeAll(async () => {
  dir = await tempDir('dbb-e2e-mongo-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data') };
  congo = await startCongo();
  const shop = anyDb(congo.client, 'shop');
  await shop.collection('types').insertMany(typedDocuments() as never[]);
  await shop.collection('types').createIndex({ kind: 1, _id: -1 }, { name: 'kind_id' });
  await shop.command({ create: 'capped', capped: true, size: 65_536 });
  await shop.collection('capped').insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: new Int32(i) })));
  await anyDb(congo.client, 'crm').collection('people').insertMany(Array.from({ length: 25 }, (_, i) => ({ _id: new Int32(i), name: `p${i}` })));
});

afterAll(async () => {
  await congo?.stop();
  await dir?.cleanup();
});

describe('dbbackup CLI with MongoDB (CongoDB)', () => {
  it('backs up two databases, lists and verifies, restores one under another name', async () => {
    const b = await cli('backup', '--db', 'mongodb', '--url', congo.url(), '--database', 'shop,crm', '--out', 'backups', '--json');
    expect(b.code, b.stderr).toBe(0);
    const out = JSON.parse(b.stdout) as { id: string; manifest: { objects: { name: string; rows?: number }[]; warnings: string[] } };
    expect(out.manifest.objects.map((o) => o.name).sort()).toEqual(['crm.people', 'shop.capped', 'shop.types']);
    expect(out.manifest.warnings.join(' ')).toMatch(/standalone/);
    expect((await cli('verify', out.id)).code).toBe(0);

    const r = await cli('restore', '--from', 'backups', '--db', 'mongodb', '--url', congo.url(), '--database', 'shop', '--target-database', 'shop_copy');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 objects, \d+ rows/);
    expect(await snapshot(congo.client, 'shop_copy')).toEqual(await snapshot(congo.client, 'shop'));
  });

  it('refuses a non-empty target, then --drop replaces the chosen collections; --dry-run changes nothing', async () => {
    const args = ['restore', '--from', 'backups', '--db', 'mongodb', '--url', congo.url(), '--database', 'shop', '--target-database', 'shop_copy', '--collections', 'types'];
    const refused = await cli(...args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already has shop_copy\.types.*--drop/);
    await anyDb(congo.client, 'shop_copy').collection('types').insertOne({ _id: 'intruder' });
    const dry = await cli(...args, '--drop', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/shop_copy\.types.*replace/);
    expect(await anyDb(congo.client, 'shop_copy').collection('types').countDocuments({ _id: 'intruder' } as never)).toBe(1);
    const dropped = await cli(...args, '--drop');
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(await anyDb(congo.client, 'shop_copy').collection('types').countDocuments({ _id: 'intruder' } as never)).toBe(0);
    expect((await snapshot(congo.client, 'shop_copy')).types).toEqual((await snapshot(congo.client, 'shop')).types);
  });

  it('with --compress gzip writes files mongorestore --gzip reads: data/<db>/<coll>.bson.gz and .metadata.json.gz', async () => {
    const b = await cli('backup', '--db', 'mongodb', '--url', congo.url('shop'), '--collections', 'types', '--exclude-collections', 'capped', '--compress', 'gzip', '--out', 'gz', '--json');
    expect(b.code, b.stderr).toBe(0);
    const { id, source } = JSON.parse(b.stdout) as { id: string; source: string };
    expect(source).toBe('shop');
    const folder = join(dir.path, 'gz', source, id, 'data', 'shop');
    expect((await readdir(folder)).sort()).toEqual(['types.bson.gz', 'types.metadata.json.gz']);
    const served = (await congo.client.db('shop').collection('types').find({}, { raw: true }).toArray()) as unknown as Buffer[];
    expect(gunzipSync(await readFile(join(folder, 'types.bson.gz'))).equals(Buffer.concat(served))).toBe(true);
    const meta = BSON.EJSON.parse(gunzipSync(await readFile(join(folder, 'types.metadata.json.gz'))).toString(), { relaxed: false });
    expect(meta.indexes.map((i: { name: string }) => i.name)).toEqual(['_id_', 'kind_id']);
    expect(BSON.deserialize(served[0]!, EXACT)).toBeDefined();
  });

  it('exits 2 on usage errors and 3 when the server cannot be reached', async () => {
    const unset = await cli('backup', '--db', 'mongodb', '--url', congo.url(), '--user', 'u', '--password-env', 'NOPE_NOT_SET', '--out', 'x');
    expect(unset.code).toBe(2);
    const unknown = await cli('backup', '--db', 'mongodb', '--url', congo.url(), '--database', 'shop', '--collections', 'nope', '--out', 'x');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/No collection "nope"/);
    const down = await cli('backup', '--db', 'mongodb', '--url', 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500', '--out', 'x');
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/Cannot reach MongoDB at 127\.0\.0\.1:1/);
  });

  it('--io-timeout 1s: a network that goes silent mid-cursor (no FIN, no RST) fails the backup with exit 3 E_NETWORK_TIMEOUT naming host:port and the collection; nothing is listed', async () => {
    // 3 batches of 1000 documents of ~1 KB: the gate goes silent inside the second (its getMore's answer).
    const docs = Array.from({ length: 3000 }, (_, i) => ({ _id: new Int32(i), pad: 'x'.repeat(1000) }));
    await anyDb(congo.client, 'bulk').collection('big').insertMany(docs as never[]);
    const gate = await startTcpGate({ port: congo.port }, undefined, { blackholeAfter: { toClient: 1_500_000 } });
    try {
      const url = `mongodb://127.0.0.1:${gate.port}/bulk?directConnection=true&serverMonitoringMode=poll`;
      const r = await cli('backup', '--db', 'mongodb', '--url', url, '--out', 'silent', '--io-timeout', '1s');
      expect(gate.silent).toBe(true);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(
        new RegExp(`^error E_NETWORK_TIMEOUT: .*MongoDB server at 127\\.0\\.0\\.1:${gate.port} passed no byte for 1 s \\(--io-timeout\\) while reading collection bulk\\.big`, 'm'),
      );
      const listed = await cli('list', '--from', 'silent', '--json');
      expect(listed.stdout).not.toMatch(/"id":/);
    } finally {
      await gate.stop();
    }
  });
});
