import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeScratchDir, STALE_MS, sweepScratch, sweepTempBeside, tempBeside } from '../../../src/infrastructure/scratch.js';

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

  it('removes the temp files a killed run left beside an archive or a restored database', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbb-beside-'));
    try {
      const target = join(dir, 'app.db');
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
      const old = new Date(Date.now() - STALE_MS - 60_000);
      const names = {
        deadPid: `.app.db.dbbackup-tmp-${dead}-0a0b0c0d`,
        deadJournal: `.app.db.dbbackup-tmp-${dead}-0a0b0c0d-journal`,
        livingYoung: `.app.db.dbbackup-tmp-${process.ppid}-11111111`,
        livingOld: `.app.db.dbbackup-tmp-${process.ppid}-22222222`,
        noPidYoung: '.app.db.dbbackup-tmp-3c3c3c3c',
        noPidOld: '.app.db.dbbackup-tmp-4d4d4d4d',
        otherFile: `.other.db.dbbackup-tmp-${dead}-55555555`,
        visible: `app.db.dbbackup-tmp-${dead}-66666666`,
      };
      for (const n of Object.values(names)) await writeFile(join(dir, n), 'x');
      for (const n of [names.livingOld, names.noPidOld]) await utimes(join(dir, n), old, old);
      const mine = tempBeside(target, true);
      expect(mine.startsWith(join(dir, `.app.db.dbbackup-tmp-${process.pid}-`))).toBe(true);
      await writeFile(mine, 'x');
      const removed = (await sweepTempBeside(target, true)).map((p) => p.slice(dir.length + 1)).sort();
      expect(removed).toEqual([names.deadPid, names.deadJournal, names.livingOld, names.noPidOld].sort());
      expect((await readdir(dir)).sort()).toEqual([names.livingYoung, names.noPidYoung, names.otherFile, names.visible, mine.slice(dir.length + 1)].sort());
      // Without `hidden`, the archive form (no leading dot) is swept.
      expect((await sweepTempBeside(target)).map((p) => p.slice(dir.length + 1))).toEqual([names.visible]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
