/**
 * Attacks on an encrypted repository by someone who can write to its storage but holds no key:
 * each one is crafted as an attacker would (edit, fix the hashes, inject), then verified and
 * restored as the owner would, with the key. Every one must fail with exit 4 naming the backup,
 * before the target database is created; legitimate backups keep working.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
const PASS = 'owner passphrase 9f3a';

beforeAll(async () => {
  dir = await tempDir('dbb-sec-enc-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), PASS };
  db = join(dir.path, 'app.db');
  createNastyDatabase(db);
  // What the attacker wants restored on the owner's machine.
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
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
type Json = Record<string, any>;
const readManifest = (repo: string, id: string): Json => JSON.parse(readFileSync(p(repo, 'app', id, 'manifest.json'), 'utf8'));
const writeManifest = (repo: string, id: string, m: Json) => writeFileSync(p(repo, 'app', id, 'manifest.json'), JSON.stringify(m, null, 2));

/** The owner's checks: verify and restore with the key both refuse, naming the backup, and create nothing. */
async function expectRefused(repo: string, id: string, keyArgs: string[] = ['--key-file', 'owner.key'], target = 'never.db') {
  const v = await cli('verify', '--from', repo, id, ...keyArgs);
  expect(v.code, v.stderr).toBe(4);
  expect(v.stderr).toMatch(/E_MANIFEST_AUTH/);
  expect(v.stderr).toContain(id);
  const r = await cli('restore', '--from', repo, '--backup', id, '--database', target, ...keyArgs);
  expect(r.code, r.stderr).toBe(4);
  expect(r.stderr).toMatch(/E_MANIFEST_AUTH/);
  expect(r.stderr).toContain(id);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(existsSync(p(target))).toBe(false);
}

/** A plaintext backup of the attacker's database, made with dbbackup itself in a scratch repository. */
async function attackerBackup(repo: string): Promise<string> {
  const b = await cli('backup', '--file', evil, '--source', 'app', '--out', repo, '--json');
  expect(b.code, b.stderr).toBe(0);
  return idOf(b);
}

describe('an encrypted repository against a storage writer', () => {
  let legit: string;

  it('a legitimate encrypted backup carries a MAC, verifies and restores', async () => {
    expect((await cli('key', 'generate', '--key-file', 'owner.key')).code).toBe(0);
    expect(statSync(p('owner.key')).mode & 0o777).toBe(0o600);
    const b = await cli('backup', '--file', db, '--out', 'repo', '--encrypt', '--key-file', 'owner.key', '--json');
    expect(b.code, b.stderr).toBe(0);
    legit = idOf(b);
    const m = readManifest('repo', legit);
    expect(m.formatVersion).toBe(4);
    expect(m.auth.mac).toMatchObject({ alg: 'hmac-sha256', key: 'data-key' });
    expect(m.auth.mac.value).toMatch(/^[0-9a-f]{64}$/);
    expect((await cli('verify', '--from', 'repo', legit, '--key-file', 'owner.key')).code).toBe(0);
    const r = await cli('restore', '--from', 'repo', '--backup', legit, '--database', 'ok.db', '--key-file', 'owner.key');
    expect(r.code, r.stderr).toBe(0);
    expect(contentHashes(p('ok.db'))).toEqual(contentHashes(db));
  });

  it('an edited manifest (snapshot time, row counts, a chain field) fails with exit 4 naming the backup', async () => {
    cpSync(p('repo'), p('edited'), { recursive: true });
    const m = readManifest('edited', legit);
    m.consistentAt = '2020-01-01T00:00:00.000Z';
    m.generation = 'planted';
    m.objects[0].rows = 1;
    writeManifest('edited', legit, m);
    await expectRefused('edited', legit);
  });

  it('removing the MAC, or claiming the old format without one, fails', async () => {
    cpSync(p('repo'), p('nomac'), { recursive: true });
    const m = readManifest('nomac', legit);
    delete m.auth;
    writeManifest('nomac', legit, m);
    await expectRefused('nomac', legit);
    // A format-1 manifest (written before MACs) is only read with --allow-unauthenticated, loudly.
    writeManifest('nomac', legit, { ...m, formatVersion: 1 });
    const v = await cli('verify', '--from', 'nomac', legit, '--key-file', 'owner.key');
    expect(v.code).toBe(4);
    expect(v.stderr).toMatch(/E_MANIFEST_AUTH.*--allow-unauthenticated/);
    const ok = await cli('verify', '--from', 'nomac', legit, '--key-file', 'owner.key', '--allow-unauthenticated', '--quiet');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/WARNING: --allow-unauthenticated/);
  });

  it('stripped encryption (plaintext parts with fixed hashes, encryption: null) fails, with the key given', async () => {
    cpSync(p('repo'), p('stripped'), { recursive: true });
    const scratch = await attackerBackup('scratch-strip');
    const theirs = readManifest('scratch-strip', scratch);
    const m = readManifest('stripped', legit);
    const folder = p('stripped', 'app', legit);
    for (const part of m.parts) rmSync(join(folder, part.name));
    for (const part of theirs.parts) cpSync(p('scratch-strip', 'app', scratch, part.name), join(folder, part.name));
    // Hashes and sizes fixed to match the planted parts; the MAC left as it was, or removed.
    const forged = { ...m, parts: theirs.parts, objects: theirs.objects, engineInfo: theirs.engineInfo, encryption: null };
    for (const part of forged.parts) expect(sha256(readFileSync(join(folder, part.name)))).toBe(part.sha256);
    writeManifest('stripped', legit, forged);
    await expectRefused('stripped', legit);
    const { auth: _auth, ...bare } = forged as Json;
    writeManifest('stripped', legit, bare);
    await expectRefused('stripped', legit);
    // Also when the marker is rewritten to say the repository is not encrypted: the key given decides.
    const marker = JSON.parse(readFileSync(p('stripped', 'dbbackup-repo.json'), 'utf8'));
    writeFileSync(p('stripped', 'dbbackup-repo.json'), JSON.stringify({ ...marker, encryption: null }));
    await expectRefused('stripped', legit);
  });

  it('a plaintext backup copied into the encrypted repository is refused, even as `latest`', async () => {
    cpSync(p('repo'), p('injected'), { recursive: true });
    const scratch = await attackerBackup('scratch-inject');
    cpSync(p('scratch-inject', 'app', scratch), p('injected', 'app', scratch), { recursive: true });
    await expectRefused('injected', scratch);
    // Without a key on the command line the repository's marker still says it is encrypted.
    const r = await cli('restore', '--from', 'injected', '--database', 'never.db');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`E_MANIFEST_AUTH.*${scratch}.*encrypted repository`));
    expect(existsSync(p('never.db'))).toBe(false);
  });

  it('a legitimate backup renamed to another id, or given another backup\'s MAC, is refused', async () => {
    const b = await cli('backup', '--file', db, '--out', 'repo', '--encrypt', '--key-file', 'owner.key', '--json');
    expect(b.code, b.stderr).toBe(0);
    const second = idOf(b);
    cpSync(p('repo'), p('swapped'), { recursive: true });
    const first = readManifest('swapped', legit);
    writeManifest('swapped', second, { ...readManifest('swapped', second), auth: first.auth });
    await expectRefused('swapped', second);
    // Replay under a new, newer id: the id is covered by the MAC.
    const newer = second.replace(/^(\d{8}T\d{6}Z)/, '29991231T235959Z');
    renameSync(p('swapped', 'app', legit), p('swapped', 'app', newer));
    writeManifest('swapped', newer, { ...first, id: newer });
    await expectRefused('swapped', newer);
  });

  it('a plaintext backup into the encrypted repository is refused unless --allow-unencrypted, which warns even with --quiet', async () => {
    const before = readdirSync(p('repo', 'app')).sort();
    const plain = await cli('backup', '--file', db, '--out', 'repo');
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/E_USAGE.*encrypted repository.*--allow-unencrypted/);
    expect(readdirSync(p('repo', 'app')).sort()).toEqual(before);

    const allowed = await cli('backup', '--file', db, '--out', 'repo', '--allow-unencrypted', '--quiet', '--json');
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stderr).toMatch(/WARNING: --allow-unencrypted/);
    const id = idOf(allowed);
    expect(readManifest('repo', id).encryption).toBeNull();
    // Reading it back needs the same explicit choice.
    await expectRefused('repo', id);
    const r = await cli('restore', '--from', 'repo', '--backup', id, '--database', 'plain.db', '--key-file', 'owner.key', '--allow-unencrypted', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/WARNING: --allow-unencrypted/);
    expect(contentHashes(p('plain.db'))).toEqual(contentHashes(db));
  });

  it('key rewrap keeps the MAC valid and refuses to re-seal an edited manifest', async () => {
    cpSync(p('repo'), p('rewrap'), { recursive: true });
    const plainId = readdirSync(p('rewrap', 'app')).find((id) => readManifest('rewrap', id).encryption === null)!;
    rmSync(p('rewrap', 'app', plainId), { recursive: true });
    expect((await cli('key', 'generate', '--key-file', 'next.key')).code).toBe(0);
    const edited = readManifest('rewrap', legit);
    writeManifest('rewrap', legit, { ...edited, warnings: ['planted'] });
    const bad = await cli('key', 'rewrap', '--from', 'rewrap', '--key-file', 'owner.key', '--new-key-file', 'next.key');
    expect(bad.code).toBe(4);
    expect(bad.stderr).toMatch(new RegExp(`E_MANIFEST_AUTH.*${legit}`));
    writeManifest('rewrap', legit, edited);
    const ok = await cli('key', 'rewrap', '--from', 'rewrap', '--key-file', 'owner.key', '--new-key-file', 'next.key');
    expect(ok.code, ok.stderr).toBe(0);
    const v = await cli('verify', '--from', 'rewrap', legit, '--key-file', 'next.key');
    expect(v.code, v.stderr).toBe(0);
  });

  it('passphrase repositories are protected the same way', async () => {
    const b = await cli('backup', '--file', db, '--out', 'prepo', '--encrypt', '--passphrase-env', 'PASS', '--json');
    expect(b.code, b.stderr).toBe(0);
    const id = idOf(b);
    const m = readManifest('prepo', id);
    writeManifest('prepo', id, { ...m, engineInfo: { ...m.engineInfo, planted: true } });
    await expectRefused('prepo', id, ['--passphrase-env', 'PASS']);
  });

  it('never prints a secret', () => {
    const key = readFileSync(p('owner.key'), 'utf8').trim();
    for (const o of outputs) {
      expect(o.stdout + o.stderr).not.toContain(key);
      expect(o.stdout + o.stderr).not.toContain(PASS);
    }
  });
});
