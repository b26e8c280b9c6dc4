/**
 * Signed backups (`key generate --signing`, `backup --sign-key`, `--verify-key`): what protects an
 * unencrypted repository, and a repository encrypted to a public age recipient, against a storage
 * writer. Attacks are crafted as an attacker would: replace the data, fix the hashes, keep or
 * forge the signature.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from '../helpers/cli.js';
import { contentHashes, createNastyDatabase } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let db: string;
let evil: string;
const outputs: CliResult[] = [];

beforeAll(async () => {
  dir = await tempDir('dbb-sec-sign-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data') };
  db = join(dir.path, 'app.db');
  createNastyDatabase(db);
  evil = join(dir.path, 'evil.db');
  const e = new Database(evil);
  e.exec("CREATE TABLE pwned(x TEXT); INSERT INTO pwned VALUES ('attacker data');");
  e.close();
});
afterAll(async () => {
  await dir.cleanup();
});

const cli = async (...args: string[]) => {
  const r = await runCli(args, { env, cwd: dir.path });
  outputs.push(r);
  return r;
};
const p = (...parts: string[]) => join(dir.path, ...parts);
const idOf = (r: CliResult) => (JSON.parse(r.stdout) as { id: string }).id;
type Json = Record<string, any>;
const readManifest = (repo: string, id: string): Json => JSON.parse(readFileSync(p(repo, 'app', id, 'manifest.json'), 'utf8'));
const writeManifest = (repo: string, id: string, m: Json) => writeFileSync(p(repo, 'app', id, 'manifest.json'), JSON.stringify(m, null, 2));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function expectRefused(repo: string, id: string, args: string[], pattern: RegExp) {
  const v = await cli('verify', '--from', repo, id, ...args);
  expect(v.code, v.stderr).toBe(4);
  expect(v.stderr).toMatch(pattern);
  expect(v.stderr).toContain(id);
  const r = await cli('restore', '--from', repo, '--backup', id, '--database', 'never.db', ...args);
  expect(r.code, r.stderr).toBe(4);
  expect(r.stderr).toMatch(pattern);
  expect(existsSync(p('never.db'))).toBe(false);
}

describe('signed backups', () => {
  let signed: string;
  const verifyArgs = ['--require-signed', '--verify-key', 'sign.key.pub'];

  it('key generate --signing writes a 0600 private key and its public key', async () => {
    const g = await cli('key', 'generate', '--signing', 'sign.key', '--json');
    expect(g.code, g.stderr).toBe(0);
    const out = JSON.parse(g.stdout) as { keyId: string; verifyKey: string };
    expect(out.keyId).toMatch(/^ed25519-[0-9a-f]{16}$/);
    expect(statSync(p('sign.key')).mode & 0o777).toBe(0o600);
    expect(statSync(p('sign.key.pub')).mode & 0o400).toBe(0o400);
    expect(readFileSync(p('sign.key.pub'), 'utf8')).toMatch(/BEGIN PUBLIC KEY/);
    // Never replaces a key.
    expect((await cli('key', 'generate', '--signing', 'sign.key')).code).toBe(1);
    expect((await cli('key', 'generate', '--signing', 'other.key')).code).toBe(0);
  });

  it('a signed unencrypted backup verifies and restores with --require-signed', async () => {
    const b = await cli('backup', '--file', db, '--out', 'repo', '--sign-key', 'sign.key', '--json');
    expect(b.code, b.stderr).toBe(0);
    signed = idOf(b);
    expect(readManifest('repo', signed).auth.signature).toMatchObject({ alg: 'ed25519', keyId: expect.stringMatching(/^ed25519-/) });
    const v = await cli('verify', '--from', 'repo', signed, ...verifyArgs);
    expect(v.code, v.stderr).toBe(0);
    const r = await cli('restore', '--from', 'repo', '--backup', signed, '--database', 'ok.db', ...verifyArgs);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(contentHashes(p('ok.db'))).toEqual(contentHashes(db));
    // Without a verify key, a signed backup reads as any other.
    expect((await cli('verify', '--from', 'repo', signed)).code).toBe(0);
  });

  it('replaced data with fixed hashes, under the old signature, fails', async () => {
    cpSync(p('repo'), p('forged'), { recursive: true });
    const scratch = await cli('backup', '--file', evil, '--source', 'app', '--out', 'scratch', '--json');
    const theirs = readManifest('scratch', idOf(scratch));
    const m = readManifest('forged', signed);
    const folder = p('forged', 'app', signed);
    for (const part of m.parts) rmSync(join(folder, part.name));
    for (const part of theirs.parts) cpSync(p('scratch', 'app', theirs.id, part.name), join(folder, part.name));
    for (const part of theirs.parts) expect(sha256(readFileSync(join(folder, part.name)))).toBe(part.sha256);
    writeManifest('forged', signed, { ...m, parts: theirs.parts, objects: theirs.objects, engineInfo: theirs.engineInfo });
    await expectRefused('forged', signed, verifyArgs, /E_MANIFEST_AUTH.*signature .* does not match/);
  });

  it('an unsigned backup, or one signed by another key, fails with --require-signed', async () => {
    const u = await cli('backup', '--file', db, '--out', 'repo', '--json');
    expect(u.code).toBe(0);
    await expectRefused('repo', idOf(u), verifyArgs, /E_MANIFEST_AUTH.*not signed/);
    const o = await cli('backup', '--file', db, '--out', 'repo', '--sign-key', 'other.key', '--json');
    expect(o.code).toBe(0);
    await expectRefused('repo', idOf(o), verifyArgs, /E_MANIFEST_AUTH.*signed by ed25519-[0-9a-f]+, not by/);
    // The signature cannot simply be copied over either.
    const stolen = readManifest('repo', signed).auth;
    writeManifest('repo', idOf(u), { ...readManifest('repo', idOf(u)), auth: stolen });
    await expectRefused('repo', idOf(u), verifyArgs, /E_MANIFEST_AUTH.*does not match/);
  });

  it('--require-signed without a verify key is a usage error', async () => {
    const r = await cli('verify', '--from', 'repo', signed, '--require-signed');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_USAGE.*--verify-key/);
  });

  it('a signing key readable by others is refused', async () => {
    writeFileSync(p('loose.key'), readFileSync(p('other.key')), { mode: 0o644 });
    const b = await cli('backup', '--file', db, '--out', 'repo', '--sign-key', 'loose.key');
    expect(b.code).toBe(4);
    expect(b.stderr).toMatch(/E_KEY.*readable by others/);
  });

  it('age: an injected whole backup encrypted to the public recipient is caught only by the signature', async () => {
    expect((await cli('key', 'generate', '--age', 'id.txt')).code).toBe(0);
    const recipient = /age1[0-9a-z]+/.exec(readFileSync(p('id.txt'), 'utf8'))![0];
    const b = await cli('backup', '--file', db, '--out', 'arepo', '--encrypt', '--recipient', recipient, '--sign-key', 'sign.key', '--json');
    expect(b.code, b.stderr).toBe(0);
    const ok = await cli('restore', '--from', 'arepo', '--database', 'age.db', '--identity', 'id.txt', ...verifyArgs);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toBe('');
    expect(contentHashes(p('age.db'))).toEqual(contentHashes(db));
    // The attacker knows the recipient (it is public, and in dbbackup-repo.json): their own
    // encrypted backup, MAC and all, is indistinguishable without a signature.
    const inj = await cli('backup', '--file', evil, '--source', 'app', '--out', 'arepo', '--encrypt', '--recipient', recipient, '--json');
    expect(inj.code, inj.stderr).toBe(0);
    await expectRefused('arepo', idOf(inj), ['--identity', 'id.txt', ...verifyArgs], /E_MANIFEST_AUTH.*not signed/);
    // Without --verify-key it is read, with a warning saying why that proves nothing.
    const warned = await cli('verify', '--from', 'arepo', idOf(inj), '--identity', 'id.txt');
    expect(warned.code).toBe(0);
    expect(warned.stderr).toMatch(/public age recipient/);
  });

  it('never prints a private key', () => {
    const secrets = ['sign.key', 'other.key']
      .map((f) => readFileSync(p(f), 'utf8').split('\n').filter((l) => l && !l.startsWith('-----')).join(''))
      .concat(/AGE-SECRET-KEY-1[0-9A-Z]+/.exec(readFileSync(p('id.txt'), 'utf8'))![0]);
    for (const o of outputs) for (const s of secrets) expect(o.stdout + o.stderr).not.toContain(s);
  });
});
