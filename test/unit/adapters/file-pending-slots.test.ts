import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilePendingSlots } from '../../../src/adapters/locks/file-pending-slots.js';
import type { CaptureSlots } from '../../../src/application/ports/capture-slots.js';
import type { DatabaseSession } from '../../../src/application/ports/database-session.js';
import type { Logger } from '../../../src/application/ports/logger.js';
import { ensureMarker } from '../../../src/application/services/backup-repository.js';
import { dropLeftSlots, repositoryDigest } from '../../../src/application/services/left-capture-slots.js';
import { DbBackupError } from '../../../src/domain/errors.js';
import { MemoryOpenerMap } from '../../helpers/fakes.js';
import { MemoryBlobStore } from '../../helpers/memory-blob-store.js';
import { tempDir } from '../../helpers/temp.js';

/**
 * The records of capture slots about to be created (FilePendingSlots) and what the next run does
 * with them (dropLeftSlots) where it must NOT drop: a live process's, another host's, a run into
 * other repositories, a repository that cannot be read, a name dbbackup does not give. (That a
 * slot a complete backup names is kept, and a killed run's is dropped: the PostgreSQL integration
 * test, on a real server.)
 */
let dir: { path: string; cleanup(): Promise<void> };
beforeEach(async () => {
  dir = await tempDir('dbb-pending-');
});
afterEach(async () => {
  await dir.cleanup();
});

/** The pid of a process that has ended (one, for the whole file). */
let ended: number | undefined;
const deadPid = () => (ended ??= spawnSync('true').pid!);

function fakeSession(names: string[]): { session: DatabaseSession; dropped: string[] } {
  const dropped: string[] = [];
  const slots: CaptureSlots = {
    list: async () => [],
    captureNameOf: (s) => `dbbackup_${s}`,
    drop: async () => ({ slots: [] }),
    requirements: async () => [],
    dropSlot: async (name) => {
      if (!name.startsWith('dbbackup_')) throw new DbBackupError('E_USAGE', `"${name}" is not the name of a dbbackup capture slot.`);
      const i = names.indexOf(name);
      if (i < 0) return false;
      names.splice(i, 1);
      dropped.push(name);
      return true;
    },
  };
  return { session: { slots } as unknown as DatabaseSession, dropped };
}

function recordingLogger(lines: string[]): Logger {
  const l: Logger = { debug() {}, info: (m) => void lines.push(m), warn: (m) => void lines.push(m), error: (m) => void lines.push(m), child: () => l };
  return l;
}

describe('FilePendingSlots', () => {
  it('records (0600 in a 0700 folder), lists per source with liveness, forgets; damaged or oversized files are ignored', async () => {
    const folder = join(dir.path, 'pending');
    const mine = new FilePendingSlots(folder);
    await mine.record('shop', 'dbbackup_shop_a1', ['r1']);
    await new FilePendingSlots(folder, { pid: deadPid() }).record('shop', 'dbbackup_shop_a0', ['r1']);
    await new FilePendingSlots(folder, { host: 'elsewhere' }).record('shop', 'dbbackup_shop_a2', []);
    await mine.record('other', 'dbbackup_other_b1', []);
    await writeFile(join(folder, 'broken.json'), '{"source":"shop",');
    await writeFile(join(folder, 'big.json'), JSON.stringify({ source: 'shop', slot: 'dbbackup_shop_x', pid: 1, host: 'h', since: 'now', repositories: [], pad: 'x'.repeat(20_000) }));
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(folder)) if (!['broken.json', 'big.json'].includes(f)) expect(statSync(join(folder, f)).mode & 0o777).toBe(0o600);
    const listed = await mine.list('shop');
    expect(listed.map((r) => [r.slot, r.alive])).toEqual([
      ['dbbackup_shop_a1', true],
      ['dbbackup_shop_a0', false],
      ['dbbackup_shop_a2', undefined],
    ]);
    expect(listed[0]).toMatchObject({ source: 'shop', pid: process.pid, repositories: ['r1'] });
    await mine.forget('shop', 'dbbackup_shop_a1');
    await mine.forget('shop', 'dbbackup_shop_a1');
    expect((await mine.list('shop')).map((r) => r.slot)).toEqual(['dbbackup_shop_a0', 'dbbackup_shop_a2']);
    expect((await mine.list('other')).map((r) => r.slot)).toEqual(['dbbackup_other_b1']);
  });
});

describe('dropLeftSlots', () => {
  it('drops only what a gone process of this host recorded for these repositories, and says so; keeps the rest', async () => {
    const folder = join(dir.path, 'pending');
    const repo = join(dir.path, 'repo');
    const dead = new FilePendingSlots(folder, { pid: deadPid() });
    await dead.record('shop', 'dbbackup_shop_k1', [repositoryDigest(repo)]);
    await dead.record('shop', 'dbbackup_shop_k2', [repositoryDigest(join(dir.path, 'elsewhere'))]);
    await dead.record('shop', 'not_ours', [repositoryDigest(repo)]);
    await new FilePendingSlots(folder).record('shop', 'dbbackup_shop_live', [repositoryDigest(repo)]);
    await new FilePendingSlots(folder, { host: 'other-host', pid: deadPid() }).record('shop', 'dbbackup_shop_far', [repositoryDigest(repo)]);
    const { session, dropped } = fakeSession(['dbbackup_shop_k1', 'dbbackup_shop_k2', 'not_ours', 'dbbackup_shop_live', 'dbbackup_shop_far']);
    const lines: string[] = [];
    const pendingSlots = new FilePendingSlots(folder);
    // The repository was never made (the run was killed first): it names nothing.
    const out = await dropLeftSlots({ pendingSlots, opener: new MemoryOpenerMap({}), logger: recordingLogger(lines) }, session, 'shop', [repo]);
    expect(out).toEqual([{ slot: 'dbbackup_shop_k1', pid: expect.any(Number) }]);
    expect(dropped).toEqual(['dbbackup_shop_k1']);
    expect(lines).toContain(`dropped slot dbbackup_shop_k1 left by a killed run (pid ${out[0]!.pid})`);
    expect(lines.join('\n')).toMatch(/dbbackup_shop_k2 left by a killed run .* was recorded for other repositories; it is kept/);
    expect(lines.join('\n')).toMatch(/names not_ours, which is not a dbbackup capture slot; it is left alone/);
    expect((await pendingSlots.list('shop')).map((r) => r.slot).sort()).toEqual(['dbbackup_shop_far', 'dbbackup_shop_k2', 'dbbackup_shop_live']);
  });

  it('keeps every record when a repository cannot be read (a backup there might name the slot)', async () => {
    const folder = join(dir.path, 'pending');
    await new FilePendingSlots(folder, { pid: deadPid() }).record('shop', 'dbbackup_shop_k1', [repositoryDigest('s3://b/repo')]);
    const { session, dropped } = fakeSession(['dbbackup_shop_k1']);
    const failing = { open: async () => Promise.reject(new DbBackupError('E_STORAGE', 'the store answered 503')) };
    const lines: string[] = [];
    const pendingSlots = new FilePendingSlots(folder);
    expect(await dropLeftSlots({ pendingSlots, opener: failing, logger: recordingLogger(lines) }, session, 'shop', ['s3://b/repo'])).toEqual([]);
    expect(dropped).toEqual([]);
    expect(lines.join('\n')).toMatch(/kept: a repository could not be read/);
    expect(await pendingSlots.list('shop')).toHaveLength(1);
    // Readable and empty (a marker, no backup of the source): now it goes.
    const store = new MemoryBlobStore();
    await ensureMarker(store, new Date());
    expect(await dropLeftSlots({ pendingSlots, opener: new MemoryOpenerMap({ 's3://b/repo': store }), logger: recordingLogger(lines) }, session, 'shop', ['s3://b/repo'])).toHaveLength(1);
    expect(dropped).toEqual(['dbbackup_shop_k1']);
  });
});
