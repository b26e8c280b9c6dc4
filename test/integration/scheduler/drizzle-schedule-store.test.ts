import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrizzleScheduleStore } from '../../../src/adapters/catalog/drizzle-schedule-store.js';
import { DrizzleBackupCatalog } from '../../../src/adapters/catalog/drizzle-backup-catalog.js';
import { tempDir } from '../../helpers/temp.js';
import { scheduleStoreContract } from '../../unit/application/schedule-store-contract.js';

let dir: { path: string; cleanup(): Promise<void> };
const opened: { close(): void }[] = [];
let n = 0;

beforeAll(async () => {
  dir = await tempDir('dbb-sched-store-');
});
afterAll(async () => {
  for (const s of opened) s.close();
  await dir.cleanup();
});

const open = (file: string) => {
  const s = new DrizzleScheduleStore(file);
  opened.push(s);
  return s;
};

describe('DrizzleScheduleStore keeps the ScheduleStore contract on a real catalog file', () => {
  scheduleStoreContract(async () => open(join(dir.path, `catalog-${n++}.db`)));

  it('shares the catalog file with the backup catalog, and two connections see one lock', async () => {
    const file = join(dir.path, 'shared.db');
    const a = open(file);
    const catalog = new DrizzleBackupCatalog(file);
    opened.push(catalog);
    const b = open(file);
    const now = new Date('2026-11-25T10:01:00Z');
    await a.ensureState('x', new Date('2026-11-25T10:00:00Z'));
    const claims = await Promise.all([a, b, a, b].map((s, i) => s.claim({ name: 'x', slot: now, owner: `o${i}`, now, staleBefore: new Date(0) })));
    expect(claims.filter((c) => c.kind === 'claimed')).toHaveLength(1);
    expect(await catalog.list()).toEqual([]);
  });
});
