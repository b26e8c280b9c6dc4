import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarGzOfZeros } from '../helpers/bombs.js';
import { tempDir } from '../helpers/temp.js';
import { MiB, PEAK_RSS_LIMIT, runMeasured } from './craft.js';

/*
 * A .tar.gz "backup" of about 1 MB whose 100 JSON entries of 4 MiB each (zeros) the reader would
 * keep in memory while indexing the archive: 400 MiB of metadata. list and verify must refuse it
 * with exit 4 (E_TOO_LARGE) in bounded memory.
 */

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let archive: string;

beforeAll(async () => {
  dir = await tempDir('dbb-sec-archive-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), XDG_STATE_HOME: join(dir.path, 'state') };
  archive = join(dir.path, 'crafted.tar.gz');
  await tarGzOfZeros(archive, 100, (i) => `app/20260101T000000Z-full-abcd/meta-${i}.json`, 4 * MiB);
}, 60_000);

afterAll(async () => {
  await dir.cleanup();
});

describe('security: an archive crafted to exhaust memory while it is indexed', () => {
  it('is small on disk', async () => {
    expect((await stat(archive)).size).toBeLessThan(4 * MiB);
  });

  for (const args of [['list', '--from', 'crafted.tar.gz'], ['verify', '--file', 'crafted.tar.gz']]) {
    it(`${args[0]}: exit 4 with E_TOO_LARGE, in bounded memory`, async () => {
      const r = await runMeasured(args, { env, cwd: dir.path });
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/E_TOO_LARGE/);
      expect(r.stderr).toMatch(/more than 64 MiB of entry names and JSON files/);
      expect(r.peakRss).toBeLessThan(PEAK_RSS_LIMIT);
    });
  }
});
