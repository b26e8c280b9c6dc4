import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SeaReleaseChannel } from '../../../src/adapters/update/sea-release-channel.js';
import { SelfUpdate } from '../../../src/application/use-cases/self-update.js';
import { signedManifest, startUpdateServer, testKey, type UpdateServer } from '../../helpers/update-server.js';
import { tempDir } from '../../helpers/temp.js';

// The single executable's update path against a real HTTP server: signed releases, a bad signature,
// a truncated file, a downgrade, a running job. The "executable" is a file whose bytes name its version.
const PLATFORM = `${process.platform}-${process.arch}`;
const key = testKey();
let server: UpdateServer;
let dir: { path: string; cleanup(): Promise<void> };
let exe: string;

beforeAll(async () => {
  server = await startUpdateServer();
});

afterAll(async () => {
  await server.close();
});

beforeEach(async () => {
  await dir?.cleanup();
  dir = await tempDir('dbb-sea-update-');
  exe = join(dir.path, 'dbbackup');
  await writeFile(exe, 'binary 0.1.0', { mode: 0o755 });
  server.files.clear();
  server.requests.length = 0;
});

function publish(version: string, options: { signWith?: typeof key.privateKey; truncateTo?: number } = {}): Buffer {
  const body = Buffer.from(`binary ${version} `.repeat(5000));
  const name = `dbbackup-${version}-${PLATFORM}`;
  server.files.set('/manifest.json', { body: signedManifest(options.signWith ?? key.privateKey, version, { platform: PLATFORM, name, body }, [`${version}: faster`]) });
  server.files.set(`/${name}`, { body, truncateTo: options.truncateTo });
  return body;
}

function updater(options: { busy?: string; current?: string } = {}) {
  const channel = new SeaReleaseChannel({ url: server.url, executable: exe, currentVersion: options.current ?? '0.1.0', publicKeys: [key.publicKey], platform: PLATFORM });
  return new SelfUpdate({ channel, busy: async () => options.busy });
}

const input = { check: false, rollback: false, allowDowngrade: false };

async function leftovers(): Promise<string[]> {
  return (await readdir(dir.path)).filter((f) => f !== 'dbbackup' && !f.startsWith('dbbackup.previous'));
}

describe('single-executable self-update', () => {
  it('--check reports a newer signed release and changes nothing', async () => {
    publish('0.2.0');
    const r = await updater().execute({ ...input, check: true });
    expect(r).toMatchObject({ action: 'available', current: '0.1.0', latest: '0.2.0', changes: ['0.2.0: faster'] });
    expect(await readFile(exe, 'utf8')).toBe('binary 0.1.0');
  });

  it('installs a signed release atomically, keeps the old file, and --rollback swaps them back', async () => {
    const body = publish('0.2.0');
    expect(await updater().execute(input)).toMatchObject({ action: 'updated', latest: '0.2.0' });
    expect((await readFile(exe)).equals(body)).toBe(true);
    expect((await stat(exe)).mode & 0o777).toBe(0o755);
    expect(await readFile(`${exe}.previous`, 'utf8')).toBe('binary 0.1.0');
    expect(await leftovers()).toEqual([]);
    // The new executable (0.2.0) rolls back to what it replaced.
    expect(await updater({ current: '0.2.0' }).execute({ ...input, rollback: true })).toMatchObject({ action: 'rolled-back', restored: '0.1.0' });
    expect(await readFile(exe, 'utf8')).toBe('binary 0.1.0');
    expect((await readFile(`${exe}.previous`)).equals(body)).toBe(true);
  });

  it('refuses a manifest signed by another key, and installs nothing', async () => {
    publish('0.2.0', { signWith: testKey().privateKey });
    await expect(updater().execute(input)).rejects.toMatchObject({ code: 'E_UPDATE_AUTH', message: expect.stringMatching(/not signed by a key this executable trusts/) });
    expect(await readFile(exe, 'utf8')).toBe('binary 0.1.0');
    expect(server.requests.some((p) => p.startsWith('/dbbackup-'))).toBe(false);
  });

  it('refuses a manifest whose signed text was altered', async () => {
    publish('0.2.0');
    const envelope = JSON.parse(server.files.get('/manifest.json')!.body.toString()) as { signed: string; signature: string };
    envelope.signed = envelope.signed.replace('"0.2.0"', '"0.3.0"');
    server.files.set('/manifest.json', { body: Buffer.from(JSON.stringify(envelope)) });
    await expect(updater().execute(input)).rejects.toMatchObject({ code: 'E_UPDATE_AUTH' });
  });

  it('refuses a truncated download and leaves the executable and folder as they were', async () => {
    const body = publish('0.2.0', { truncateTo: 1000 });
    expect(body.length).toBeGreaterThan(1000);
    await expect(updater().execute(input)).rejects.toMatchObject({ code: 'E_UPDATE_AUTH', message: expect.stringMatching(/truncated/) });
    expect(await readFile(exe, 'utf8')).toBe('binary 0.1.0');
    expect(await leftovers()).toEqual([]);
    expect(await readdir(dir.path)).toEqual(['dbbackup']);
  });

  it('refuses a downgrade unless --allow-downgrade', async () => {
    publish('0.0.9');
    await expect(updater().execute(input)).rejects.toMatchObject({ code: 'E_UPDATE', message: expect.stringMatching(/refusing a downgrade/) });
    expect(await readFile(exe, 'utf8')).toBe('binary 0.1.0');
    expect(await updater().execute({ ...input, allowDowngrade: true })).toMatchObject({ action: 'downgraded', latest: '0.0.9' });
    expect(await readFile(exe, 'utf8')).toMatch(/^binary 0\.0\.9/);
  });

  it('does not update while a scheduled job runs', async () => {
    publish('0.2.0');
    await expect(updater({ busy: 'the scheduled job nightly is running' }).execute(input)).rejects.toMatchObject({ code: 'E_UPDATE', message: expect.stringMatching(/nightly/) });
    expect(await readFile(exe, 'utf8')).toBe('binary 0.1.0');
  });

  it('refuses an oversized manifest and a build without keys', async () => {
    server.files.set('/manifest.json', { body: Buffer.alloc(200_000, 32) });
    await expect(updater().execute(input)).rejects.toMatchObject({ code: 'E_UPDATE_AUTH' });
    const keyless = new SelfUpdate({ channel: new SeaReleaseChannel({ url: server.url, executable: exe, currentVersion: '0.1.0', publicKeys: [], platform: PLATFORM }), busy: async () => undefined });
    await expect(keyless.execute(input)).rejects.toMatchObject({ code: 'E_UPDATE', message: expect.stringMatching(/without an update key/) });
  });
});
