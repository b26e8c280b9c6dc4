import { ContainerModule } from 'inversify';
import { describe, expect, it } from 'vitest';
import { ListBackups } from '../../../src/application/use-cases/list-backups.js';
import { RestoreBackup } from '../../../src/application/use-cases/restore-backup.js';
import { RunBackup } from '../../../src/application/use-cases/run-backup.js';
import { VerifyBackup } from '../../../src/application/use-cases/verify-backup.js';
import { MapCodecRegistry } from '../../../src/adapters/compression/codec-registry.js';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { GzipCodec } from '../../../src/adapters/compression/gzip-codec.js';
import { NoneCodec } from '../../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../../src/adapters/compression/zstd-codec.js';
import { buildContainer } from '../../../src/bootstrap/container.js';
import { Tokens } from '../../../src/bootstrap/tokens.js';
import { NullProgress } from '../../../src/infrastructure/progress.js';
import { FakeConnector, fixedClock, MemoryCatalog, MemoryOpener, silentLogger } from '../../helpers/fakes.js';
import { MemoryBlobStore } from '../../helpers/memory-blob-store.js';

const codecs = new MapCodecRegistry([new ZstdCodec(), new GzipCodec(), new NoneCodec()]);
const signal = () => new AbortController().signal;

function setup(tables = { users: ['1\talice', '2\tbob'], orders: ['10\t1\t9.99'] }) {
  const store = new MemoryBlobStore();
  const opener = new MemoryOpener(store);
  const connector = new FakeConnector(tables);
  const connectors = new MapConnectorRegistry([connector]);
  const catalog = new MemoryCatalog();
  const progress = new NullProgress();
  const deps = { connectors, opener, codecs, catalog, clock: fixedClock(), logger: silentLogger, progress };
  return {
    store,
    connector,
    catalog,
    backup: new RunBackup({ ...deps, toolVersion: 'test' }),
    restore: new RestoreBackup(deps),
    verify: new VerifyBackup(deps),
    list: new ListBackups(deps),
  };
}

const input = {
  target: { engine: 'postgres' as const, database: 'app' },
  repository: 'mem',
  kind: 'full' as const,
  compression: { codec: 'zstd' },
  parallel: 1,
};

describe('RunBackup', () => {
  it('writes the marker, the parts, then the manifest, and records the backup in the catalog', async () => {
    const t = setup();
    const order: string[] = [];
    const put = t.store.put.bind(t.store);
    t.store.put = async (key, body, o) => {
      const r = await put(key, body, o);
      order.push(key);
      return r;
    };
    const { manifest } = await t.backup.execute(input, signal());
    expect(order[0]).toBe('dbbackup-repo.json');
    expect(order.at(-1)).toBe(`fake/${manifest.id}/manifest.json`);
    expect(manifest.parts.map((p) => p.name).sort()).toEqual(['data/orders.0.txt.zst', 'data/users.0.txt.zst']);
    expect(manifest.objects).toEqual([
      { name: 'users', type: 'table', rows: 2 },
      { name: 'orders', type: 'table', rows: 1 },
    ]);
    expect(Date.parse(manifest.startedAt)).toBeGreaterThan(Date.parse('2026-11-25T02:00:00Z'));
    expect(Date.parse(manifest.finishedAt)).toBeGreaterThan(Date.parse(manifest.startedAt));
    expect((await t.catalog.list()).map((b) => b.id)).toEqual([manifest.id]);
  });

  it('leaves no manifest and no parts when the dump fails half-way', async () => {
    const t = setup();
    t.connector.failOn = 'orders';
    await expect(t.backup.execute(input, signal())).rejects.toMatchObject({ code: 'E_BACKUP_FAILED' });
    expect([...t.store.objects.keys()]).toEqual(['dbbackup-repo.json']);
    expect(await t.catalog.list()).toEqual([]);
  });

  it('reports an aborted backup as E_INTERRUPTED and records nothing', async () => {
    const t = setup();
    const ac = new AbortController();
    ac.abort(new Error('SIGINT'));
    await expect(t.backup.execute(input, ac.signal)).rejects.toMatchObject({ code: 'E_INTERRUPTED' });
    expect([...t.store.objects.keys()].some((k) => k.endsWith('manifest.json'))).toBe(false);
  });

  it('does nothing but inspect on a dry run', async () => {
    const t = setup();
    const r = await t.backup.execute({ ...input, dryRun: true }, signal());
    expect(r.dryRun).toBe(true);
    expect(r.manifest.objects.map((o) => o.name)).toEqual(['users', 'orders']);
    expect(t.store.objects.size).toBe(0);
  });

  it('refuses an incremental backup for an engine that cannot make one', async () => {
    const t = setup();
    await expect(t.backup.execute({ ...input, kind: 'incremental' }, signal())).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
  });
});

describe('RestoreBackup / VerifyBackup / ListBackups', () => {
  it('restores exactly what was backed up, or only the chosen tables', async () => {
    const t = setup();
    await t.backup.execute(input, signal());
    const target = { engine: 'postgres' as const, database: 'copy' };
    const r = await t.restore.execute({ repository: 'mem', backup: 'latest', target, clean: false }, signal());
    expect(r.outcome?.rows).toBe(3);
    expect(t.connector.restored).toEqual({ users: ['1\talice', '2\tbob'], orders: ['10\t1\t9.99'] });
    await t.restore.execute({ repository: 'mem', backup: 'latest', target, clean: true, tables: ['orders'] }, signal());
    expect(t.connector.restored).toEqual({ orders: ['10\t1\t9.99'] });
  });

  it('a dry run plans but never calls restore', async () => {
    const t = setup();
    await t.backup.execute(input, signal());
    const r = await t.restore.execute({ repository: 'mem', backup: 'latest', target: { engine: 'postgres' }, clean: false, dryRun: true }, signal());
    expect(r.plan.items.map((i) => i.object)).toEqual(['users', 'orders']);
    expect(t.connector.restoreCalls).toBe(0);
  });

  it('verifies every part before a non-atomic restore touches the target', async () => {
    const t = setup();
    const { manifest } = await t.backup.execute(input, signal());
    const key = `fake/${manifest.id}/${manifest.parts[1]!.name}`;
    const bytes = Buffer.from(t.store.objects.get(key)!.bytes);
    bytes[bytes.length - 1] ^= 0xff;
    t.store.objects.set(key, { bytes, modifiedAt: new Date() });
    await expect(t.verify.execute({ repository: 'mem', backup: manifest.id }, signal())).rejects.toMatchObject({ code: 'E_CHECKSUM' });
    await expect(
      t.restore.execute({ repository: 'mem', backup: 'latest', target: { engine: 'postgres' }, clean: false }, signal()),
    ).rejects.toMatchObject({ code: 'E_CHECKSUM' });
    expect(t.connector.restoreCalls).toBe(0);
  });

  it('a driver error while planning (the server dropped the connection) is E_RESTORE_FAILED, not an internal error', async () => {
    const t = setup();
    await t.backup.execute(input, signal());
    const connect = t.connector.connect.bind(t.connector);
    t.connector.connect = async (target) => {
      const session = await connect(target);
      return { ...session, planRestore: async () => Promise.reject(new Error('terminating connection due to administrator command')) };
    };
    await expect(t.restore.execute({ repository: 'mem', backup: 'latest', target: { engine: 'postgres' }, clean: false }, signal())).rejects.toMatchObject({
      code: 'E_RESTORE_FAILED',
      message: 'The restore failed: terminating connection due to administrator command',
    });
    expect(t.connector.restoreCalls).toBe(0);
  });

  it('finds a backup by id through the catalog when no repository is given', async () => {
    const t = setup();
    const { manifest } = await t.backup.execute(input, signal());
    const r = await t.verify.execute({ backup: manifest.id.slice(0, 20) }, signal());
    expect(r.checks.every((c) => c.ok)).toBe(true);
    await expect(t.verify.execute({ backup: 'latest' }, signal())).rejects.toMatchObject({ code: 'E_USAGE' });
  });

  it('rebuilds the catalog from manifests, ignoring backups without one', async () => {
    const t = setup();
    const { manifest } = await t.backup.execute(input, signal());
    await t.store.put('fake/20261125T030000Z-full-zzzz/data/users.0.txt', (await import('node:stream')).Readable.from([Buffer.from('x')]));
    t.catalog.rows = [];
    const r = await t.list.execute({ repository: 'mem' }, signal());
    expect(r.backups.map((b) => b.id)).toEqual([manifest.id]);
  });

  it('without a repository, reads the shared ones first (fleet mode: what another machine backed up)', async () => {
    const t = setup();
    const { manifest } = await t.backup.execute(input, signal());
    t.catalog.rows = []; // this machine's catalog has never seen it
    expect((await t.list.execute({}, signal())).backups).toEqual([]);
    const r = await t.list.execute({ shared: ['mem'] }, signal());
    expect(r.backups.map((b) => b.id)).toEqual([manifest.id]);
  });
});

describe('buildContainer', () => {
  it('wires every use-case and lets tests rebind a port', async () => {
    const container = buildContainer(
      { dataDir: '/nonexistent', logLevel: 'error', json: false, progress: false, toolVersion: 't' },
      [new ContainerModule(({ rebind }) => void rebind(Tokens.Catalog).toConstantValue(new MemoryCatalog()))],
    );
    expect(container.get(RunBackup)).toBeInstanceOf(RunBackup);
    expect(container.get(RestoreBackup)).toBeInstanceOf(RestoreBackup);
    expect(container.get(Tokens.Catalog)).toBeInstanceOf(MemoryCatalog);
    await expect(container.get(Tokens.Connectors).get('oracle')).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
  });
});
