import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { createNastyDatabase } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

/**
 * Issue 18 case 7: no secret reaches any output — `config show` in every form, warnings, errors of
 * connections and notifiers, logs — and an `enc:` value opens only in the field it was made for.
 */
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let db: string;

beforeAll(async () => {
  dir = await tempDir('dbb-sec-secrets-');
  env = {
    DBBACKUP_DATA_DIR: join(dir.path, 'data'),
    XDG_STATE_HOME: join(dir.path, 'state'),
    DBBACKUP_MASTER_KEY: Buffer.alloc(32, 42).toString('base64'),
  };
  db = join(dir.path, 'app.db');
  createNastyDatabase(db);
});

afterAll(() => dir.cleanup());

const cli = (args: string[], input?: string) => runCli(args, { env, cwd: dir.path, input });

function logs(): string {
  const logDir = join(dir.path, 'state', 'dbbackup', 'logs');
  return existsSync(logDir) ? readdirSync(logDir).map((f) => readFileSync(join(logDir, f), 'utf8')).join('\n') : '';
}

function expectNoSecret(results: CliResult[], secrets: string[]): void {
  const text = [...results.flatMap((r) => [r.stdout, r.stderr]), logs()].join('\n');
  for (const s of secrets) expect(text.includes(s), `${s} leaked:\n${text}`).toBe(false);
}

describe('7. secrets stay out of every output', () => {
  it('config show hides header values, ?password= and token parameters, and a URL password that holds an @', async () => {
    const config = join(dir.path, 'show.yaml');
    await writeFile(
      config,
      `
sources:
  main: { engine: postgres, url: "postgres://backup:pa@ss-SECRET-A@db.example:5432/app?sslmode=require&password=SECRET-B" }
  events: { engine: mysql, url: "mysql://backup@db2.example/events?ssl-mode=REQUIRED&access_token=SECRET-C" }
targets:
  disk: { url: /srv/backups }
notifications:
  - type: webhook
    url: https://ops.example/hook
    on: [failure]
    headers: { Authorization: "Bearer SECRET-D", X-Api-Key: SECRET-E }
`,
    );
    const runs = [
      await cli(['config', 'show', '--config', config]),
      await cli(['config', 'show', '--config', config, '--origin']),
      await cli(['config', 'show', '--config', config, '--json']),
    ];
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expectNoSecret(runs, ['SECRET-A', 'ss-SECRET', 'SECRET-B', 'SECRET-C', 'SECRET-D', 'SECRET-E']);
    // What is not secret stays readable.
    expect(runs[0]!.stdout).toContain('postgres://backup:[redacted]@db.example:5432/app?sslmode=require&password=[redacted]');
    expect(runs[0]!.stdout).toContain('mysql://backup@db2.example/events?ssl-mode=REQUIRED&access_token=[redacted]');
    const json = JSON.parse(runs[2]!.stdout) as { config: { notifications: { headers: Record<string, string> }[] } };
    expect(json.config.notifications[0]!.headers).toEqual({ Authorization: '[redacted]', 'X-Api-Key': '[redacted]' });
  });

  it('a password in the --url query (?password=) is warned about, and shows nowhere', async () => {
    const port = await freePort();
    const r = await cli(['backup', '--db', 'postgres', '--url', `postgres://backup@127.0.0.1:${port}/app?password=SECRET-F`, '--out', 'r', '--verbose']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('warning: the --url holds a password');
    expectNoSecret([r], ['SECRET-F']);
  });

  it('notifier errors are redacted: a bad URL with a token, an invalid header value', async () => {
    const port = await freePort();
    const config = join(dir.path, 'notify.yaml');
    await writeFile(
      config,
      `
notifications:
  - { type: webhook, url: "http://exa mple.invalid/hook?token=SECRET-G", on: [failure] }
  - { type: webhook, url: "http://127.0.0.1:${port}/hook", on: [failure], headers: { Authorization: "Bearer SECRET-H\\nx" }, retries: 0 }
  - { type: slack, url: "http://127.0.0.1:${port}/services/T000/B000/SECRET-I", on: [failure], retries: 0 }
`,
    );
    const r = await cli(['notify', 'test', '--config', config, '--verbose']);
    expect(r.code).toBe(1);
    expect(r.stdout.match(/FAILED/g)).toHaveLength(3);
    expect(r.stderr + logs()).toMatch(/notification failed/);
    expectNoSecret([r], ['SECRET-G', 'SECRET-H', 'SECRET-I']);
  });

  describe('enc: values are bound to their field', () => {
    const source = (fields: string) => `sources:\n  main: { engine: sqlite, ${fields} }\n`;
    let bound: string;
    let unbound: string;

    beforeAll(async () => {
      const b = await cli(['secret', 'encrypt', '--field', 'sources.main.password'], 'SECRET-J');
      expect(b.code, b.stderr).toBe(0);
      bound = b.stdout.trim();
      const u = await cli(['secret', 'encrypt'], 'SECRET-K');
      expect(u.code).toBe(0);
      expect(u.stderr).toMatch(/not bound to a field; pass --field/);
      unbound = u.stdout.trim();
    });

    it('a bound value opens in its field, with no warning', async () => {
      expect(bound).toMatch(/^enc:v2:sources\.main\.password:[A-Za-z0-9_-]+$/);
      const config = join(dir.path, 'bound.yaml');
      await writeFile(config, source(`database: ${db}, password: "${bound}"`));
      const v = await cli(['config', 'validate', '--config', config]);
      expect(v.code, v.stderr).toBe(0);
      expect(v.stderr).toBe('');
      const b = await cli(['backup', '--config', config, '--source', 'main', '--out', 'bound-repo']);
      expect(b.code, b.stderr).toBe(0);
      expectNoSecret([v, b], ['SECRET-J']);
    });

    it('moved into a field that is printed, or into another source, it is refused with E_CONFIG naming the path', async () => {
      const moved = join(dir.path, 'moved.yaml');
      await writeFile(moved, source(`database: "${bound}"`));
      const v = await cli(['config', 'validate', '--config', moved]);
      const b = await cli(['backup', '--config', moved, '--source', 'main', '--out', 'moved-repo']);
      for (const r of [v, b]) {
        expect(r.code).toBe(2);
        expect(r.stderr).toContain('error E_CONFIG');
        expect(r.stderr).toContain('sources.main.database: this enc: value was encrypted for sources.main.password');
        expect(r.stderr).toContain('dbbackup secret encrypt --field sources.main.database');
      }
      const other = join(dir.path, 'other.yaml');
      await writeFile(other, `sources:\n  evil: { engine: sqlite, database: ${db}, password: "${bound}" }\n`);
      const e = await cli(['backup', '--config', other, '--source', 'evil', '--out', 'evil-repo']);
      expect(e.code).toBe(2);
      expect(e.stderr).toContain('sources.evil.password: this enc: value was encrypted for sources.main.password');
      // Editing the field named inside the value does not help: it is the associated data.
      const forged = join(dir.path, 'forged.yaml');
      await writeFile(forged, source(`database: "${bound.replace('sources.main.password', 'sources.main.database')}"`));
      const f = await cli(['config', 'validate', '--config', forged]);
      expect(f.code).toBe(2);
      expect(f.stderr).toContain('sources.main.database: cannot decrypt the secret');
      expectNoSecret([v, b, e, f], ['SECRET-J']);
    });

    it('an older unbound value still opens, with a warning that gives the command to re-encrypt it; its text is never printed', async () => {
      const config = join(dir.path, 'old.yaml');
      await writeFile(config, source(`database: ${db}, password: "${unbound}"`));
      const v = await cli(['config', 'validate', '--config', config]);
      expect(v.code, v.stderr).toBe(0);
      expect(v.stderr).toContain('warning: sources.main.password holds an enc:v1: value, which is not bound to its field');
      expect(v.stderr).toContain('dbbackup secret encrypt --field sources.main.password');
      // Moved into the database field, the old value opens (unbound), but the error that names the file does not show it.
      const moved = join(dir.path, 'old-moved.yaml');
      await writeFile(moved, source(`database: "${unbound}"`));
      const b = await cli(['backup', '--config', moved, '--source', 'main', '--out', 'old-repo', '--verbose']);
      expect(b.code).not.toBe(0);
      expectNoSecret([v, b], ['SECRET-K']);
    });

    it('--field must name a config field', async () => {
      const r = await cli(['secret', 'encrypt', '--field', 'sources.main'], 'x');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--field sources\.main is not a config field/);
      const p = await cli(['secret', 'encrypt', '--field', 'profiles.prod.sources.main.password'], 'SECRET-L');
      expect(p.stdout.trim()).toMatch(/^enc:v2:sources\.main\.password:/);
    });
  });
});
