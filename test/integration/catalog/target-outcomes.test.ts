import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DrizzleBackupCatalog } from '../../../src/adapters/catalog/drizzle-backup-catalog.js';
import { clearSecretsForTests, registerSecret } from '../../../src/infrastructure/redact.js';
import { tempDir } from '../../helpers/temp.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  clearSecretsForTests();
});

describe('the catalog keeps every target outcome of a run', () => {
  it('in the order given, failures included, re-recorded in place, with no secret in a message', async () => {
    const dir = await tempDir('dbb-outcomes-');
    cleanups.push(() => dir.cleanup());
    const catalog = new DrizzleBackupCatalog(join(dir.path, 'catalog.db'));
    cleanups.push(() => catalog.close());
    registerSecret('hunter2-secret');
    const outcomes = [
      { repository: '/srv/b', ok: true },
      { repository: 's3://bucket/x', ok: false, errorCode: 'E_STORAGE', errorMessage: 'upload refused for key hunter2-secret' },
      { repository: '/srv/a', ok: true },
    ];
    await catalog.recordOutcomes('app', 'B1', outcomes);
    await catalog.recordOutcomes('app', 'B2', [{ repository: '/srv/a', ok: true }]);
    const got = await catalog.outcomes('app', 'B1');
    expect(got.map((o) => [o.repository, o.ok, o.errorCode])).toEqual([
      ['/srv/b', true, undefined],
      ['s3://bucket/x', false, 'E_STORAGE'],
      ['/srv/a', true, undefined],
    ]);
    expect(got[1]!.errorMessage).toBe('upload refused for key [redacted]');
    await catalog.recordOutcomes('app', 'B1', [{ repository: '/srv/b', ok: false, errorCode: 'E_CHECKSUM' }]);
    expect((await catalog.outcomes('app', 'B1')).find((o) => o.repository === '/srv/b')).toMatchObject({ ok: false, errorCode: 'E_CHECKSUM' });
    expect(await catalog.outcomes('app', 'B2')).toHaveLength(1);
  });
});
