import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { DrizzleBackupCatalog } from '../../../src/adapters/catalog/drizzle-backup-catalog.js';
import { tempDir } from '../../helpers/temp.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const tables = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
};

describe('catalog migrations on open', () => {
  it('a current catalog opens as it is; one behind the newest migration is brought up to date', async () => {
    const dir = await tempDir('dbb-migrations-');
    cleanups.push(() => dir.cleanup());
    const file = join(dir.path, 'catalog.db');
    new DrizzleBackupCatalog(file).close();
    const fresh = tables(file);
    expect(fresh).toContain('target_outcomes');
    new DrizzleBackupCatalog(file).close();
    expect(tables(file)).toEqual(fresh);

    // As a catalog left by the previous release: the newest migration not applied.
    const raw = new Database(file);
    raw.exec('DROP TABLE target_outcomes; DELETE FROM __drizzle_migrations WHERE created_at = (SELECT max(created_at) FROM __drizzle_migrations)');
    raw.close();
    expect(tables(file)).not.toContain('target_outcomes');
    const catalog = new DrizzleBackupCatalog(file);
    cleanups.push(() => catalog.close());
    expect(tables(file)).toEqual(fresh);
    await catalog.recordOutcomes('app', 'B1', [{ repository: '/srv/a', ok: true }]);
    expect(await catalog.outcomes('app', 'B1')).toHaveLength(1);
  });
});
