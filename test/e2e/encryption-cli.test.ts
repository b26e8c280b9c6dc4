import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type S3Server, s3CliEnv, startS3Server } from '../helpers/s3-server.js';
import { contentHashes, createNastyDatabase } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let db: string;

beforeAll(async () => {
  dir = await tempDir('dbb-enc-e2e-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), XDG_STATE_HOME: join(dir.path, 'state'), PASS_A: 'first passphrase 123', PASS_B: 'not the passphrase' };
  db = join(dir.path, 'app.db');
  createNastyDatabase(db, { bigText: 200_000 });
});
let s3: S3Server | undefined;
afterAll(async () => {
  await s3?.stop();
  await dir.cleanup();
});

const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });
const idOf = (stdout: string) => (JSON.parse(stdout) as { id: string }).id;

describe('encrypted backups', () => {
  it('encrypts, rotates keys, and restores backups made before and after the rotation', async () => {
    const b1 = await cli('backup', '--file', db, '--out', 'repo', '--encrypt', '--passphrase-env', 'PASS_A', '--json');
    expect(b1.code, b1.stderr).toBe(0);
    const first = idOf(b1.stdout);
    // Stored parts are not readable without the key.
    const parts = readdirSync(join(dir.path, 'repo', 'app', first, 'data'));
    expect(parts).toEqual(['main.0.sqlite.zst.enc']);
    const bytes = readFileSync(join(dir.path, 'repo', 'app', first, 'data', parts[0]!));
    expect(bytes.includes(Buffer.from('CREATE TABLE'))).toBe(false);
    expect(JSON.stringify(readFileSync(join(dir.path, 'repo', 'dbbackup-repo.json'), 'utf8'))).not.toContain(env.PASS_A);

    expect((await cli('key', 'generate', '--key-file', 'new.key')).code).toBe(0);
    expect((await cli('key', 'rotate', '--from', 'repo', '--key-file', 'new.key')).code).toBe(0);
    // The retired passphrase can no longer start new backups.
    const stale = await cli('backup', '--file', db, '--out', 'repo', '--encrypt', '--passphrase-env', 'PASS_A');
    expect(stale.code).toBe(4);
    expect(stale.stderr).toMatch(/E_KEY.*rotated/);
    const b2 = await cli('backup', '--file', db, '--out', 'repo', '--encrypt', '--key-file', 'new.key', '--json');
    expect(b2.code, b2.stderr).toBe(0);
    const second = idOf(b2.stdout);

    const r1 = await cli('restore', '--from', 'repo', '--backup', first, '--database', 'r1.db', '--passphrase-env', 'PASS_A');
    expect(r1.code, r1.stderr).toBe(0);
    expect(contentHashes(join(dir.path, 'r1.db'))).toEqual(contentHashes(db));
    const r2 = await cli('restore', '--from', 'repo', '--backup', second, '--database', 'r2.db', '--key-file', 'new.key');
    expect(r2.code, r2.stderr).toBe(0);
    expect(contentHashes(join(dir.path, 'r2.db'))).toEqual(contentHashes(db));

    // Rewrap: the old backup becomes readable with the new key, without touching its data.
    const before = readFileSync(join(dir.path, 'repo', 'app', first, 'data', parts[0]!));
    expect((await cli('key', 'rewrap', '--from', 'repo', '--passphrase-env', 'PASS_A', '--new-key-file', 'new.key')).code).toBe(0);
    expect(readFileSync(join(dir.path, 'repo', 'app', first, 'data', parts[0]!)).equals(before)).toBe(true);
    const v = await cli('verify', '--from', 'repo', first, '--key-file', 'new.key');
    expect(v.code, v.stderr).toBe(0);
    const list = await cli('key', 'list', '--from', 'repo', '--json');
    expect((JSON.parse(list.stdout) as { keys: { active: boolean }[] }).keys.filter((k) => k.active)).toHaveLength(1);

    // The same rewrap again (what a user runs after one was killed half-way) has nothing left to
    // do: every backup already opens with the new key. It once compared the chunk-binding key id,
    // not the wrapping one, and unwrapped with the old key again: E_KEY, exit 4.
    const again = await cli('key', 'rewrap', '--from', 'repo', '--passphrase-env', 'PASS_A', '--new-key-file', 'new.key', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { rewrapped: string[] }).rewrapped).toEqual([]);
    const byKey = JSON.parse((await cli('key', 'list', '--from', 'repo', '--json')).stdout) as { backups: { id: string; keyId: string }[] };
    const newKeyId = (JSON.parse((await cli('key', 'list', '--from', 'repo', '--json')).stdout) as { keys: { id: string; active: boolean }[] }).keys.find((k) => k.active)!.id;
    expect(byKey.backups.find((b) => b.id === first)?.keyId).toBe(newKeyId);
  });

  it('works the same against S3 (s3rver): encrypted backup, rotation, restore of both', async () => {
    s3 = await startS3Server(['enc']);
    const s3env = {
      ...env,
      ...s3CliEnv(s3, dir.path),
    };
    const run = (...args: string[]) => runCli(args, { env: s3env, cwd: dir.path });
    const repo = 's3://enc/prod';
    const b1 = await run('backup', '--file', db, '--out', repo, '--encrypt', '--key-file', 'new.key', '--json');
    expect(b1.code, b1.stderr).toBe(0);
    expect((await run('key', 'generate', '--key-file', 's3-next.key')).code).toBe(0);
    expect((await run('key', 'rotate', '--from', repo, '--key-file', 's3-next.key')).code).toBe(0);
    const b2 = await run('backup', '--file', db, '--out', repo, '--encrypt', '--key-file', 's3-next.key', '--json');
    expect(b2.code, b2.stderr).toBe(0);
    for (const [id, key, name] of [[idOf(b1.stdout), 'new.key', 's3-before.db'], [idOf(b2.stdout), 's3-next.key', 's3-after.db']] as const) {
      const r = await run('restore', '--from', repo, '--backup', id, '--database', name, '--key-file', key);
      expect(r.code, r.stderr).toBe(0);
      expect(contentHashes(join(dir.path, name))).toEqual(contentHashes(db));
    }
    const wrong = await run('restore', '--from', repo, '--backup', idOf(b2.stdout), '--database', 'no.db', '--key-file', 'new.key');
    expect(wrong.code).toBe(4);
  });

  it('exits 4 with a clear message for a wrong, missing or public-only key, and writes nothing', async () => {
    const b = await cli('backup', '--file', db, '--out', 'repo2', '--encrypt', '--passphrase-env', 'PASS_A', '--json');
    expect(b.code).toBe(0);
    const id = idOf(b.stdout);
    for (const [args, pattern] of [
      [['--passphrase-env', 'PASS_B'], /E_KEY.*with key passphrase: wrong passphrase/],
      [[], /E_KEY.*is encrypted with key passphrase/],
      [['--key-file', 'new.key'], /E_KEY/],
    ] as const) {
      const r = await cli('restore', '--from', 'repo2', '--database', 'never.db', ...args);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr).toContain(id);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(join(dir.path, 'never.db'))).toBe(false);
    }
    expect((await cli('key', 'generate', '--age', 'identity.txt')).code).toBe(0);
    const recipient = /age1[0-9a-z]+/.exec(readFileSync(join(dir.path, 'identity.txt'), 'utf8'))![0];
    const a = await cli('backup', '--file', db, '--out', 'repo3', '--encrypt', '--recipient', recipient);
    expect(a.code, a.stderr).toBe(0);
    const pub = await cli('restore', '--from', 'repo3', '--database', 'never.db', '--recipient', recipient);
    expect(pub.code).toBe(4);
    expect(pub.stderr).toMatch(/needs the private identity/);
    const ok = await cli('restore', '--from', 'repo3', '--database', 'age.db', '--identity', 'identity.txt');
    expect(ok.code, ok.stderr).toBe(0);
    expect(contentHashes(join(dir.path, 'age.db'))).toEqual(contentHashes(db));
  });
});
