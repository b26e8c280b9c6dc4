import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findConfigFile, loadConfig } from '../../../src/infrastructure/config/load-config.js';
import { decryptSecret, encryptSecret, initKeyFile, loadMasterKey } from '../../../src/infrastructure/config/secrets.js';
import { Settings } from '../../../src/infrastructure/config/settings.js';
import { redact } from '../../../src/infrastructure/redact.js';
import { tempDir } from '../../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tempDir('dbb-config-');
});
afterAll(() => dir.cleanup());

async function file(name: string, text: string): Promise<string> {
  const path = join(dir.path, name);
  await writeFile(path, text);
  return path;
}

const YAML = `
defaults: { compression: gzip, level: 4, parallel: 3 }
sources:
  app: { engine: postgres, host: db1, port: 5432, user: backup, database: app, password: "\${APP_PW}" }
targets:
  disk: { url: /srv/backups }
backups:
  app: { targets: [disk], level: 7 }
profiles:
  dev:
    sources:
      app: { host: localhost, port: "\${DEV_PORT:-6543}" }
  prod:
    defaults: { compression: zstd }
`;

describe('config loading', () => {
  it('merges a profile over the shared sections, key by key, with interpolation and defaults', async () => {
    const path = await file('a.yaml', YAML);
    const c = await loadConfig({ path, profile: 'dev', env: { APP_PW: 'pw-from-env' } });
    expect(c.section.sources?.app).toEqual({ engine: 'postgres', host: 'localhost', port: 6543, user: 'backup', database: 'app', password: 'pw-from-env' });
    expect(c.origins.get('sources.app.host')).toBe(`${path}:12`);
    expect(c.origins.get('sources.app.user')).toBe(`${path}:4`);
    expect(c.interpolated.get('profiles.dev.sources.app.port')).toEqual(['DEV_PORT']);
  });

  it('a source with no value (a truncated file) is a config error naming it, not a crash', async () => {
    const path = await file('null-source.yaml', 'sources:\n  app: { engine: sqlite, database: /tmp/x.db }\n  pg:\n');
    await expect(loadConfig({ path, env: {} })).rejects.toMatchObject({ code: 'E_CONFIG', message: expect.stringMatching(/sources\.pg/) });
  });

  it('applies precedence flag > env > file > default for every layer', async () => {
    const path = await file('b.yaml', YAML);
    const s = (env: NodeJS.ProcessEnv, profile?: string) => loadConfig({ path, profile, env: { APP_PW: 'x', ...env } }).then((c) => new Settings(c, { APP_PW: 'x', ...env }));
    const plain = await s({});
    expect(plain.compression(undefined)).toEqual({ value: 'gzip', origin: `${path}:2` });
    expect((await s({}, 'prod')).compression(undefined)).toEqual({ value: 'zstd', origin: `${path}:14` });
    expect((await s({ DBBACKUP_COMPRESSION: 'none' })).compression(undefined)).toEqual({ value: 'none', origin: 'env DBBACKUP_COMPRESSION' });
    expect((await s({ DBBACKUP_COMPRESSION: 'none' })).compression('zstd')).toEqual({ value: 'zstd', origin: 'flag --compress' });
    expect(plain.level(undefined, 'app').value).toBe(7);
    expect(plain.level(undefined).value).toBe(4);
    const none = new Settings(await loadConfig({ env: {} }), {});
    expect(none.compression(undefined)).toEqual({ value: 'zstd', origin: 'default' });
    expect(none.parallel(undefined).origin).toBe('default');
    expect((await s({ DBBACKUP_PROFILE: 'prod' })).config.profile).toBe('prod');
  });

  it('reports every problem at once, with paths, lines and suggestions', async () => {
    const path = await file(
      'bad.yaml',
      `defaults: { compresion: zstd }
profiles:
  prod:
    sources:
      main: { engine: postgres, port: "54x2", passwrd: x }
    targets:
      t: { url: "\${NOPE}" }
    notifications:
      - { type: email, url: x }
`,
    );
    const err = (await loadConfig({ path, env: {} }).catch((e: unknown) => e)) as { code: string; message: string };
    expect(err.code).toBe('E_CONFIG');
    expect(err.message).toContain('defaults.compresion: unknown key (did you mean "compression"?) (line 1)');
    expect(err.message).toContain('profiles.prod.sources.main.port: expected a number, got "54x2" (line 5)');
    expect(err.message).toContain('profiles.prod.sources.main.passwrd: unknown key (did you mean "password"?)');
    expect(err.message).toContain('profiles.prod.targets.t.url: environment variable NOPE is not set');
    expect(err.message).toMatch(/profiles\.prod\.notifications\.0\.type: expected one of "slack", "webhook", got "email"/);
    expect(err.message).toContain('has 5 problems');
  });

  it('refuses an unknown profile with the list of profiles', async () => {
    const path = await file('c.yaml', YAML);
    await expect(loadConfig({ path, profile: 'prd', env: { APP_PW: 'x' } })).rejects.toThrow(/No profile "prd".*dev, prod.*did you mean "prod"/);
  });

  it('finds the config by flag, env, working folder, then the platform folder', async () => {
    const cwd = join(dir.path, 'cwd');
    await mkdir(join(dir.path, 'xdg', 'dbbackup'), { recursive: true });
    await mkdir(cwd, { recursive: true });
    expect(findConfigFile(undefined, { XDG_CONFIG_HOME: join(dir.path, 'xdg') }, cwd)).toBeUndefined();
    await writeFile(join(dir.path, 'xdg', 'dbbackup', 'config.yaml'), '{}');
    expect(findConfigFile(undefined, { XDG_CONFIG_HOME: join(dir.path, 'xdg') }, cwd)).toBe(join(dir.path, 'xdg', 'dbbackup', 'config.yaml'));
    await writeFile(join(cwd, 'dbbackup.yaml'), '{}');
    expect(findConfigFile(undefined, { XDG_CONFIG_HOME: join(dir.path, 'xdg') }, cwd)).toBe(join(cwd, 'dbbackup.yaml'));
    expect(findConfigFile(undefined, { DBBACKUP_CONFIG: '/etc/x.yaml' }, cwd)).toBe('/etc/x.yaml');
    expect(findConfigFile('y.json', { DBBACKUP_CONFIG: '/etc/x.yaml' }, cwd)).toBe(join(cwd, 'y.json'));
  });
});

describe('secrets', () => {
  it('round-trips, and a wrong key is a clear error, never garbage', () => {
    const key = Buffer.alloc(32, 7);
    const enc = encryptSecret('p@ss w0rd ✓', key);
    expect(enc).toMatch(/^enc:v1:/);
    expect(enc).not.toContain('p@ss');
    expect(decryptSecret(enc, key, 'sources.a.password')).toBe('p@ss w0rd ✓');
    expect(() => decryptSecret(enc, Buffer.alloc(32, 8), 'sources.a.password')).toThrow(/sources\.a\.password: cannot decrypt the secret: wrong master key/);
    const tampered = enc.slice(0, -2) + (enc.endsWith('A') ? 'BB' : 'AA');
    expect(() => decryptSecret(tampered, key, 'x')).toThrow(/cannot decrypt/);
  });

  it('creates a 0600 key file, refuses a group/world-readable one, and prefers DBBACKUP_MASTER_KEY', async () => {
    const keyFile = join(dir.path, 'keys', 'master.key');
    initKeyFile(keyFile);
    expect(() => initKeyFile(keyFile)).toThrow(/already exists/);
    const key = loadMasterKey({}, keyFile)!;
    expect(key.length).toBe(32);
    await chmod(keyFile, 0o644);
    expect(() => loadMasterKey({}, keyFile)).toThrow(/readable by others.*chmod 600/);
    const envKey = Buffer.alloc(32, 1).toString('base64');
    expect(loadMasterKey({ DBBACKUP_MASTER_KEY: envKey }, keyFile)!.equals(Buffer.alloc(32, 1))).toBe(true);
    expect(() => loadMasterKey({ DBBACKUP_MASTER_KEY: 'short' }, keyFile)).toThrow(/not a master key/);
  });

  it('takes a source\'s scratch: server (not a connection option; its password a secret) and the verify-restore task', async () => {
    const path = await file('scratch.yaml', `
sources:
  app: { engine: postgres, host: db1, user: backup, database: app, scratch: "postgres://verify:scratch-pw-canary@db2:5432/postgres" }
schedules:
  - { name: nightly-check, cron: "0 4 * * *", task: verify-restore, source: app }
`);
    const s = new Settings(await loadConfig({ path, env: {} }), {});
    const app = s.source('app');
    expect(app.scratch).toBe('postgres://verify:scratch-pw-canary@db2:5432/postgres');
    expect(app.target.options ?? {}).toEqual({});
    expect(redact('connecting with scratch-pw-canary')).not.toContain('scratch-pw-canary');
    expect(s.config.section.schedules).toEqual([expect.objectContaining({ task: 'verify-restore' })]);
    const bad = await file('bad-task.yaml', 'schedules:\n  - { name: x, cron: "0 4 * * *", task: restore-check, source: app }\n');
    await expect(loadConfig({ path: bad, env: {} })).rejects.toMatchObject({ code: 'E_CONFIG', message: expect.stringMatching(/schedules\.0\.task.*verify-restore/s) });
  });

  it('decrypts enc: values in sources through Settings', async () => {
    const key = Buffer.alloc(32, 3);
    const path = await file('enc.yaml', `sources:\n  a: { engine: sqlite, database: x.db, password: "${encryptSecret('s3cret', key)}" }\n`);
    const env = { DBBACKUP_MASTER_KEY: key.toString('base64') };
    const s = new Settings(await loadConfig({ path, env }), env);
    expect(s.source('a').target.password).toBe('s3cret');
    const noKey = new Settings(await loadConfig({ path, env: {} }), { DBBACKUP_MASTER_KEY_FILE: join(dir.path, 'none.key') });
    expect(() => noKey.source('a')).toThrow(/sources\.a\.password needs the master key/);
  });
});
