import { spawnSync } from 'node:child_process';
import { mkdir, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeScratchDir, STALE_MS, sweepScratch } from '../../../src/infrastructure/scratch.js';

describe('scratch folders', () => {
  it('removes the stale folders of dead processes, and only those', async () => {
    const prefix = `dbb-scratch-test-${process.pid}-`;
    // A pid that surely is gone: a child that has exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const old = new Date(Date.now() - STALE_MS - 60_000);
    const stale = join(tmpdir(), `${prefix}${dead}-aaaaaa`);
    const young = join(tmpdir(), `${prefix}${dead}-bbbbbb`);
    const living = join(tmpdir(), `${prefix}${process.ppid}-cccccc`);
    for (const d of [stale, young, living]) await mkdir(d, { recursive: true });
    for (const d of [stale, living]) await utimes(d, old, old);
    const made = await makeScratchDir(prefix);
    expect(made.startsWith(join(tmpdir(), `${prefix}${process.pid}-`))).toBe(true);
    await expect(stat(stale)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await stat(young)).isDirectory()).toBe(true);
    expect((await stat(living)).isDirectory()).toBe(true);
    expect(((await stat(made)).mode & 0o777).toString(8)).toBe('700');
    for (const d of [young, living, made]) await import('node:fs/promises').then((f) => f.rm(d, { recursive: true, force: true }));
    expect(await sweepScratch(prefix)).toEqual([]);
  });
});
