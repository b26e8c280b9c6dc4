import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PassphraseKey, scryptWorkFactor } from '../../src/adapters/encryption/key-encryption-keys.js';
import { runCli } from '../helpers/cli.js';
import { createNastyDatabase } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

/**
 * Issue 18 case 8: passphrase wraps use scrypt with log2 N = 18 (age's default); older wraps (16)
 * still open; a wrap that asks for more than 2^20 (a repository made to cost minutes and GiBs to
 * open) is refused before any work.
 */
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await tempDir('dbb-sec-scrypt-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), XDG_STATE_HOME: join(dir.path, 'state'), PASS: 'a long enough passphrase' };
  createNastyDatabase(join(dir.path, 'app.db'));
});

afterAll(() => dir.cleanup());

const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });
const ageHeader = (base64: string) => Buffer.from(base64, 'base64').toString('latin1').split('\n---')[0]!;

describe('8. scrypt work factor of passphrase wraps', () => {
  it('a new encrypted backup wraps its key (and the repository its key check) with log2 N = 18; a wrap asking for 21 is refused (exit 4)', async () => {
    const b = await cli('backup', '--file', 'app.db', '--out', 'repo', '--encrypt', '--passphrase-env', 'PASS', '--json');
    expect(b.code, b.stderr).toBe(0);
    const id = (JSON.parse(b.stdout) as { id: string }).id;
    const source = (await readdir(join(dir.path, 'repo'))).find((n) => n !== 'dbbackup-repo.json')!;
    const manifestPath = join(dir.path, 'repo', source, id, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { encryption: { wrapped: { data: string } } };
    expect(ageHeader(manifest.encryption.wrapped.data)).toMatch(/^-> scrypt [A-Za-z0-9+/]{22} 18$/m);
    const marker = JSON.parse(await readFile(join(dir.path, 'repo', 'dbbackup-repo.json'), 'utf8')) as { encryption: { keys: { check: string }[] } };
    expect(ageHeader(marker.encryption.keys[0]!.check)).toMatch(/^-> scrypt \S+ 18$/m);

    // Someone with write access to the repository raises the work factor of the backup's wrap.
    const raised = Buffer.from(Buffer.from(manifest.encryption.wrapped.data, 'base64').toString('latin1').replace(/^(-> scrypt \S+) 18$/m, '$1 21'), 'latin1');
    manifest.encryption.wrapped.data = raised.toString('base64');
    await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
    const r = await cli('restore', '--from', 'repo', '--backup', id, '--database', 'restored.db', '--passphrase-env', 'PASS');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/error E_KEY: .*scrypt work factor \(log2 N = 21\) is above 20/);
    expect(r.stderr).not.toContain(env.PASS!);
  });

  it('a wrap made with the older log2 N = 16 still opens; above 20 never runs scrypt', async () => {
    const dataKey = randomBytes(32);
    const old = await new PassphraseKey('a long enough passphrase', 'passphrase', 16).wrap(dataKey);
    expect(scryptWorkFactor(Buffer.from(old.data, 'base64'))).toBe(16);
    expect((await new PassphraseKey('a long enough passphrase').unwrap(old, 'B-old')).equals(dataKey)).toBe(true);
    const huge = { ...old, data: Buffer.from(Buffer.from(old.data, 'base64').toString('latin1').replace(/^(-> scrypt \S+) 16$/m, '$1 40'), 'latin1').toString('base64') };
    // 2^40 would never finish: a prompt refusal is the proof that nothing was computed.
    await expect(new PassphraseKey('a long enough passphrase').unwrap(huge, 'B-huge')).rejects.toMatchObject({
      code: 'E_KEY',
      message: expect.stringMatching(/backup B-huge .*log2 N = 40\) is above 20/),
    });
  });
});
