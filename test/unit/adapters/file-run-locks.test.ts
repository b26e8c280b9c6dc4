import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileRunLocks } from '../../../src/adapters/locks/file-run-locks.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbbackup-locks-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited (a short-lived child, waited for). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

/** The one lock file in `dir`, rewritten as held by `pid` (as a killed holder would have left it). */
async function pretendHeldBy(pid: number, ageMs = 0): Promise<string> {
  const [name] = (await readdir(dir)).filter((n) => n.endsWith('.lock'));
  const file = join(dir, name!);
  const held = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await writeFile(file, JSON.stringify({ ...held, pid, token: 'someone-else' }));
  const at = new Date(Date.now() - ageMs);
  await utimes(file, at, at);
  return file;
}

describe('FileRunLocks', () => {
  it('one holder at a time; the second is told who holds it (E_LOCKED); a release frees it', async () => {
    const locks = new FileRunLocks(dir);
    const held = await locks.acquire('replicate a', 'replicate of "a"');
    await expect(new FileRunLocks(dir).acquire('replicate a', 'replicate of "a"')).rejects.toMatchObject({
      code: 'E_LOCKED',
      message: expect.stringContaining(`process ${process.pid}`),
    });
    const other = await locks.acquire('replicate b', 'replicate of "b"');
    await held.release();
    await held.release();
    await (await locks.acquire('replicate a', 'replicate of "a"')).release();
    await other.release();
    expect(await readdir(dir)).toEqual([]);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('the lock of a process that is gone is taken over at once', async () => {
    const locks = new FileRunLocks(dir);
    await locks.acquire('job', 'the job');
    const file = await pretendHeldBy(deadPid());
    const held = await locks.acquire('job', 'the job');
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await held.release();
  });

  it('a lock whose pid runs but that was not renewed for staleMs (a reused pid, a hung process) is taken over; a renewed one is not', async () => {
    const locks = new FileRunLocks(dir, { staleMs: 60_000 });
    await locks.acquire('job', 'the job');
    await pretendHeldBy(process.ppid, 10_000);
    await expect(locks.acquire('job', 'the job')).rejects.toMatchObject({ code: 'E_LOCKED' });
    await pretendHeldBy(process.ppid, 120_000);
    await (await locks.acquire('job', 'the job')).release();
  });

  it('a held lock is renewed while held', async () => {
    const locks = new FileRunLocks(dir, { renewMs: 20, staleMs: 60_000 });
    const held = await locks.acquire('job', 'the job');
    const [name] = await readdir(dir);
    const file = join(dir, name!);
    const old = new Date(Date.now() - 600_000);
    await utimes(file, old, old);
    while ((await stat(file)).mtimeMs < Date.now() - 300_000) await new Promise((resolve) => setTimeout(resolve, 10));
    await held.release();
  });

  it('many takers of one stale lock at once: exactly one gets it', async () => {
    const first = new FileRunLocks(dir);
    await first.acquire('job', 'the job');
    await pretendHeldBy(deadPid());
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => new FileRunLocks(dir).acquire('job', 'the job')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'E_LOCKED' });
  });
});
