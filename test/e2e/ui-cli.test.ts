import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { signIn, startUi } from '../helpers/ui-process.js';

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await tempDir('dbb-ui-cli-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), DBBACKUP_LOG_FILE: 'off' };
});

afterAll(async () => {
  await dir.cleanup();
});

/** GET over TLS trusting `ca` (fetch cannot take a CA per request). */
function httpsGet(url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers, servername: 'localhost' }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dbbackup ui: the security model', () => {
  it('refuses an address other machines reach without TLS (exit 2), before listening', async () => {
    const r = await runCli(['ui', '--listen', '0.0.0.0:0'], { env, cwd: dir.path });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error E_USAGE: --listen 0\.0\.0\.0 is reachable from other machines: give --cert and --key/);
    const bad = await runCli(['ui', '--listen', 'nonsense'], { env, cwd: dir.path });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error E_USAGE: --listen takes HOST:PORT/);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      const busy = await runCli(['ui', '--listen', `127.0.0.1:${port}`], { env, cwd: dir.path });
      expect(busy.code).toBe(2);
      expect(busy.stderr).toBe(`error E_USAGE: Cannot listen on 127.0.0.1:${port} (EADDRINUSE); choose another --listen.\n`);
    } finally {
      taken.close();
    }
  });

  it('answers 401 without a session, 421 to a foreign Host, 403 to an action without the CSRF token', async () => {
    const ui = await startUi(['--listen', '127.0.0.1:0'], { env, cwd: dir.path });
    try {
      expect((await fetch(`${ui.origin}/api/overview`)).status).toBe(401);
      expect((await fetch(`${ui.origin}/?token=wrong-token-wrong-token`, { redirect: 'manual' })).status).toBe(401);
      // A page of another name resolving to 127.0.0.1 (DNS rebinding) sends its own Host; fetch cannot set one.
      const foreign = await new Promise<number>((resolve, reject) =>
        httpRequest(`${ui.origin}/api/overview`, { headers: { host: 'attacker.example' } }, (res) => (res.resume(), resolve(res.statusCode ?? 0)))
          .on('error', reject)
          .end(),
      );
      expect(foreign).toBe(421);
      const huge = await fetch(`${ui.origin}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${'x'.repeat(100_000)}` });
      expect(huge.status).toBe(413);
      const cookie = await signIn(ui.url);
      expect((await fetch(`${ui.origin}/api/overview`, { headers: { cookie } })).status).toBe(200);
      const post = (headers: Record<string, string>) =>
        fetch(`${ui.origin}/api/actions/pin`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ id: 'x', pinned: true }) });
      expect((await post({})).status).toBe(403);
      const { csrf } = (await (await fetch(`${ui.origin}/api/session`, { headers: { cookie } })).json()) as { csrf: string };
      expect((await post({ 'x-csrf-token': csrf, origin: 'https://attacker.example' })).status).toBe(403);
      // With the token and its own origin the action is accepted (and fails later: no such backup).
      expect((await post({ 'x-csrf-token': csrf, origin: ui.origin })).status).toBe(202);
    } finally {
      expect(await ui.stop()).toBe(0);
    }
  });

  it('sends no secret of the config to the page', async () => {
    writeFileSync(
      join(dir.path, 'secret.yaml'),
      `sources:
  app: { engine: postgres, url: "postgres://backup:pg-secret-P4ss@127.0.0.1:1/app" }
  lite: { engine: sqlite, database: ${join(dir.path, 'lite.db')}, password: "lite-secret-P4ss" }
targets:
  remote: { url: "s3://AKIDEXAMPLE:s3-secret-P4ss@bucket/prefix?X-Amz-Signature=sig-secret-P4ss" }
  local: { url: ${join(dir.path, 'repo')} }
backups:
  app: { targets: [remote] }
  lite: { targets: [local] }
notifications:
  - { type: webhook, url: "http://127.0.0.1:1/hook?token=hook-secret-P4ss", on: [failure] }
`,
    );
    const ui = await startUi(['--config', 'secret.yaml', '--listen', '127.0.0.1:0'], { env, cwd: dir.path });
    try {
      const cookie = await signIn(ui.url);
      const answers = await Promise.all(['/api/session', '/api/overview', '/api/storage', '/api/schedules', '/api/jobs'].map(async (path) => `${path}: ${await (await fetch(`${ui.origin}${path}`, { headers: { cookie } })).text()}`));
      const text = answers.join('\n');
      expect(text).toContain('"name":"app","engine":"postgres"');
      expect(text).toContain('s3://AKIDEXAMPLE:[redacted]@bucket/prefix?X-Amz-Signature=[redacted]');
      expect(text.match(/secret-P4ss/g), text).toBeNull();
    } finally {
      expect(await ui.stop()).toBe(0);
    }
  });

  it('serves over TLS with a Secure cookie, and signs in with a password whose hash is all it keeps', async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir.path, 'key.pem'), '-out', join(dir.path, 'cert.pem')], { stdio: 'ignore' });
    const hashed = await runCli(['ui', '--hash-password'], { env, cwd: dir.path, input: 'correct horse battery\n' });
    expect(hashed.code, hashed.stderr).toBe(0);
    expect(hashed.stdout).toMatch(/^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}\n$/);
    expect(hashed.stdout).not.toContain('correct horse');
    writeFileSync(join(dir.path, 'ui-password'), hashed.stdout, { mode: 0o600 });

    const ui = await startUi(['--listen', '127.0.0.1:0', '--cert', 'cert.pem', '--key', 'key.pem', '--password-hash-file', 'ui-password'], { env, cwd: dir.path });
    try {
      expect(ui.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
      const ca = readFileSync(join(dir.path, 'cert.pem'));
      expect((await httpsGet(`${ui.origin}/api/overview`, ca)).status).toBe(401);
      const login = (password: string) =>
        new Promise<{ status: number; cookie?: string }>((resolve, reject) => {
          const body = new URLSearchParams({ password }).toString();
          const req = request(`${ui.origin}/login`, { method: 'POST', ca, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) } }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, cookie: res.headers['set-cookie']?.[0] }));
          });
          req.on('error', reject);
          req.end(body);
        });
      expect((await login('wrong password')).status).toBe(401);
      const ok = await login('correct horse battery');
      expect(ok.status).toBe(303);
      expect(ok.cookie).toMatch(/^dbbackup_session=[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
      expect((await httpsGet(`${ui.origin}/api/overview`, ca, { cookie: ok.cookie!.split(';')[0]! })).status).toBe(200);
    } finally {
      expect(await ui.stop()).toBe(0);
    }
  });
});
