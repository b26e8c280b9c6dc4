import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/temp.js';
import { runs } from './daemon-harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

function manifests(repo: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const source of readdirSync(repo, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    for (const id of readdirSync(join(repo, source.name))) {
      out.push(JSON.parse(readFileSync(join(repo, source.name, id, 'manifest.json'), 'utf8')) as Record<string, unknown>);
    }
  }
  return out;
}

describe('a scheduled backup of a source whose policy says encrypt: true', () => {
  it('is encrypted with the config key into every target, and the scheduled verify opens it', async () => {
    const dir = await tempDir('dbb-sched-enc-');
    cleanups.push(() => dir.cleanup());
    const db = new Database(join(dir.path, 'app.db'));
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('secret row')");
    db.close();
    await writeFile(
      join(dir.path, 'dbbackup.yaml'),
      `
encryption: { passphrase: "\${BACKUP_PASSPHRASE}" }
sources:
  app: { engine: sqlite, database: ${join(dir.path, 'app.db')} }
  nokey: { engine: sqlite, database: ${join(dir.path, 'app.db')} }
targets:
  one: { url: ${join(dir.path, 'repo-one')} }
  two: { url: ${join(dir.path, 'repo-two')} }
backups:
  app: { targets: [one, two], encrypt: true }
schedules:
  - { name: backup-app, cron: "* * * * * *", task: backup, source: app, timezone: UTC }
`,
    );
    const env = {
      DBBACKUP_DATA_DIR: join(dir.path, 'data'),
      XDG_STATE_HOME: join(dir.path, 'state'),
      XDG_CONFIG_HOME: join(dir.path, 'config'),
      DBBACKUP_CONFIG: join(dir.path, 'dbbackup.yaml'),
      BACKUP_PASSPHRASE: 'a long enough passphrase',
    };
    const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });
    // The first run records where the schedule starts from; the next one runs the slot since.
    expect((await cli('schedule', 'run', '--once')).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1_200));
    const once = await cli('schedule', 'run', '--once');
    expect(once.code, once.stderr).toBe(0);
    for (const repo of ['repo-one', 'repo-two']) {
      const found = manifests(join(dir.path, repo));
      expect(found.length).toBeGreaterThan(0);
      for (const m of found) expect(m.encryption).toMatchObject({ keyId: 'passphrase' });
    }
    const added = await cli('schedule', 'add', '--cron', '* * * * * *', '--task', 'verify', '--source', 'app', '--name', 'verify-app', '--timezone', 'UTC');
    expect(added.code, added.stderr).toBe(0);
    await cli('schedule', 'disable', 'backup-app');
    await new Promise((r) => setTimeout(r, 1_200));
    const verify = await cli('schedule', 'run', '--once');
    expect(verify.code, verify.stderr).toBe(0);
    const history = runs(env.DBBACKUP_DATA_DIR);
    expect(history.filter((r) => r.schedule === 'verify-app' && r.outcome === 'success').length).toBeGreaterThan(0);

    // With the key gone from the config the run fails: never a plaintext backup instead.
    const before = manifests(join(dir.path, 'repo-one')).length;
    const config = readFileSync(join(dir.path, 'dbbackup.yaml'), 'utf8');
    await writeFile(join(dir.path, 'dbbackup.yaml'), config.replace(/^encryption:.*$/m, ''));
    await cli('schedule', 'disable', 'verify-app');
    await cli('schedule', 'enable', 'backup-app');
    await new Promise((r) => setTimeout(r, 1_200));
    const nokey = await cli('schedule', 'run', '--once', '--retries', '0');
    expect(nokey.code).not.toBe(0);
    expect(nokey.stdout + nokey.stderr).toMatch(/backups\.app says encrypt: true, but the config has no encryption: key/);
    expect(manifests(join(dir.path, 'repo-one')).length).toBe(before);
  });
});
