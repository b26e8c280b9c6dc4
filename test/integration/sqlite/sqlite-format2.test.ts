import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MapCodecRegistry } from '../../../src/adapters/compression/codec-registry.js';
import { NoneCodec } from '../../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../../src/adapters/compression/zstd-codec.js';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { SqliteConnector } from '../../../src/adapters/connectors/sqlite/sqlite-connector.js';
import { LocalRepositoryOpener } from '../../../src/adapters/storage/repository-opener.js';
import { RestoreBackup } from '../../../src/application/use-cases/restore-backup.js';
import { RunBackup } from '../../../src/application/use-cases/run-backup.js';
import type { BackupKind } from '../../../src/domain/backup-kind.js';
import { MANIFEST_FORMAT_VERSION } from '../../../src/domain/manifest.js';
import { NullProgress } from '../../../src/infrastructure/progress.js';
import { MemoryCatalog, silentLogger } from '../../helpers/fakes.js';
import { Database } from '../../helpers/sqlite-fixtures.js';

// A repository written by the format 2 code (test/fixtures/sqlite-format2/README.md): today's
// reader restores every backup in it, and new links (format 3, delta page maps) grow its chains.
const fixture = fileURLToPath(new URL('../../fixtures/sqlite-format2/', import.meta.url));
const signal = new AbortController().signal;
const deps = {
  connectors: new MapConnectorRegistry([new SqliteConnector()]),
  opener: new LocalRepositoryOpener(),
  codecs: new MapCodecRegistry([new ZstdCodec(), new NoneCodec()]),
  catalog: new MemoryCatalog(),
  clock: { now: () => new Date() },
  logger: silentLogger,
  progress: new NullProgress(),
};
const runBackup = new RunBackup({ ...deps, toolVersion: 'test' });
const restoreBackup = new RestoreBackup(deps);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbb-sqlite-format2-'));
  await cp(join(fixture, 'repo'), join(dir, 'repo'), { recursive: true });
  await cp(join(fixture, 'app.db'), join(dir, 'app.db'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const dumpOf = (path: string) => createHash('sha256').update(execFileSync('sqlite3', [path, '.dump'])).digest('hex');

async function restored(id: string): Promise<string> {
  const into = join(dir, `restored-${id}.db`);
  await restoreBackup.execute({ repository: join(dir, 'repo'), backup: id, target: { engine: 'sqlite', database: into }, clean: false }, signal);
  return dumpOf(into);
}

async function backup(kind: BackupKind) {
  const { manifest } = await runBackup.execute(
    { target: { engine: 'sqlite', database: join(dir, 'app.db') }, repository: join(dir, 'repo'), kind, compression: { codec: 'zstd' }, parallel: 1 },
    signal,
  );
  return manifest;
}

describe('a SQLite repository of manifest format 2', () => {
  it('restores every backup of it: full, incremental, differential, incremental after it', async () => {
    const dumps = JSON.parse(await readFile(join(fixture, 'dumps.json'), 'utf8')) as Record<string, string>;
    expect(Object.keys(dumps)).toHaveLength(4);
    for (const [id, dump] of Object.entries(dumps)) expect(await restored(id), id).toBe(dump);
  });

  it('takes new links on its chain and restores them', async () => {
    const db = new Database(join(dir, 'app.db'));
    db.exec("UPDATE notes SET body = 'format 3 ' || id WHERE id % 3 = 0; INSERT INTO tags VALUES (1, 'new')");
    db.close();
    const first = await backup('incremental');
    expect(first.formatVersion).toBe(MANIFEST_FORMAT_VERSION);
    // Its map is whole (most pages changed since the full), as a format 2 link's.
    expect((first.logPosition as { mapBase?: string }).mapBase).toBeUndefined();
    // Its parent has no fast map: pages compared by sha256, and the link has none either.
    expect(first.engineInfo.pagesComparedBy).toBe('sha256');
    expect((first.logPosition as { fastMap?: string }).fastMap).toBeUndefined();
    expect(await restored(first.id)).toBe(dumpOf(join(dir, 'app.db')));

    const again = new Database(join(dir, 'app.db'));
    again.exec("DELETE FROM tags WHERE tag = 'tag1'");
    again.close();
    const second = await backup('incremental');
    expect(second.parent).toBe(first.id);
    expect(await restored(second.id)).toBe(dumpOf(join(dir, 'app.db')));
    const diff = await backup('differential');
    expect(await restored(diff.id)).toBe(dumpOf(join(dir, 'app.db')));
  });

  it('a new full, then a small change: the link stores its fast map as a delta from the full, and no page map', async () => {
    const full = await backup('full');
    const db = new Database(join(dir, 'app.db'));
    db.exec("UPDATE notes SET body = 'one' WHERE id = 2");
    db.close();
    const link = await backup('incremental');
    // Format 4: the chain has a fast map, so the link records no sha256 page map.
    expect(link.logPosition as { pageMap?: string; mapBase?: string }).not.toHaveProperty('pageMap');
    expect(link.logPosition as { mapBase?: string }).not.toHaveProperty('mapBase');
    expect(link.engineInfo.pagesComparedBy).toBe('fast hash');
    expect(await restored(link.id)).toBe(dumpOf(join(dir, 'app.db')));
    // The next link compares with that link's fast map, stored as a delta from the full's.
    expect((link.logPosition as { fastMapBase?: string }).fastMapBase).toBe(full.id);
    const again = new Database(join(dir, 'app.db'));
    again.exec("UPDATE notes SET body = 'two' WHERE id = 5");
    again.close();
    const next = await backup('incremental');
    expect(next.parent).toBe(link.id);
    expect(next.engineInfo.pagesComparedBy).toBe('fast hash');
    expect(next.engineInfo.changes).toBeGreaterThan(0);
    expect(await restored(next.id)).toBe(dumpOf(join(dir, 'app.db')));
  });

  it('a page changed, then changed back to its bytes at the full, is seen (each link records the new fast hashes)', async () => {
    const edit = (sql: string, ...values: string[]) => {
      const db = new Database(join(dir, 'app.db'));
      try {
        return db.prepare(sql).run(...values);
      } finally {
        db.close();
      }
    };
    const db = new Database(join(dir, 'app.db'));
    const { body } = db.prepare('SELECT body FROM notes WHERE id = 4').get() as { body: string };
    db.close();
    await backup('full');
    // A value of the same length is written in place: changing it back gives the full's page again.
    edit('UPDATE notes SET body = ? WHERE id = 4', 'x'.repeat(body.length));
    const changed = await backup('incremental');
    expect(changed.engineInfo.changes).toBeGreaterThan(0);
    edit('UPDATE notes SET body = ? WHERE id = 4', body);
    const reverted = await backup('incremental');
    expect(reverted.engineInfo.pagesComparedBy).toBe('fast hash');
    expect(reverted.engineInfo.changes).toBeGreaterThan(0);
    expect(await restored(reverted.id)).toBe(dumpOf(join(dir, 'app.db')));
  });
});
