import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startRecorder } from '../helpers/http-recorder.js';
import { contentHashes, createNastyDatabase, Database } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
const PW_FILE = 'file-plain-P4ss';
const PW_ENV = 'env-interp-P4ss';
const PW_FLAG = 'flag-env-P4ss';
const PW_ENC = 'encrypted-P4ss';
const HOOK_SECRET = 'hmac-S3cret-value';

beforeAll(async () => {
  dir = await tempDir('dbb-cfg-e2e-');
  env = {
    DBBACKUP_DATA_DIR: join(dir.path, 'data'),
    XDG_STATE_HOME: join(dir.path, 'state'),
    XDG_CONFIG_HOME: join(dir.path, 'config'),
    APP_PASSWORD: PW_ENV,
    FLAG_PASSWORD: PW_FLAG,
  };
  createNastyDatabase(join(dir.path, 'app.db'), { bigText: 1000 });
  const small = new Database(join(dir.path, 'dev.db'));
  small.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);');
  small.close();
});

afterAll(() => dir.cleanup());

const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });

describe('a config file with two profiles drives backup and restore', () => {
  it('backs up and restores each profile\'s source into its own repository, and keeps every secret out of sight', async () => {
    expect((await cli('secret', 'init')).code).toBe(0);
    const enc = await runCli(['secret', 'encrypt'], { env, cwd: dir.path, input: PW_ENC });
    expect(enc.code).toBe(0);
    const encrypted = enc.stdout.trim();
    expect(encrypted).toMatch(/^enc:v1:/);
    const hook = await startRecorder();
    try {
      await writeFile(
        join(dir.path, 'dbbackup.yaml'),
        `
defaults: { compression: zstd }
logging: { level: debug }
sources:
  app: { engine: sqlite, database: ${join(dir.path, 'dev.db')}, password: "${PW_FILE}" }
targets:
  local: { url: ${join(dir.path, 'dev-repo')} }
backups:
  app: { targets: [local] }
notifications:
  - { type: webhook, url: "${hook.url}/hook", on: [success, failure], secret: "${HOOK_SECRET}" }
profiles:
  dev: {}
  prod:
    defaults: { compression: gzip, level: 9 }
    sources:
      app: { database: ${join(dir.path, 'app.db')}, password: "${encrypted}" }
      other: { engine: sqlite, database: ${join(dir.path, 'app.db')}, password: "\${APP_PASSWORD}" }
    targets:
      local: { url: ${join(dir.path, 'prod-repo')} }
      archive: { url: ${join(dir.path, 'prod.tar.gz')} }
    backups:
      app: { targets: [local, archive] }
      other: { targets: [local] }
`,
      );
      const outputs: string[] = [];
      const run = async (...args: string[]) => {
        const r = await cli(...args);
        outputs.push(r.stdout, r.stderr);
        return r;
      };
      expect((await run('config', 'validate', '--profile', 'prod', '--connect')).code).toBe(0);
      const dev = await run('backup', '--source', 'app', '--profile', 'dev', '--verbose', '--json');
      expect(dev.code, dev.stderr).toBe(0);
      const prod = await run('backup', '--source', 'app', '--profile', 'prod', '--verbose', '--json');
      expect(prod.code, prod.stderr).toBe(0);
      const prodResult = JSON.parse(prod.stdout) as { manifest: { parts: { codecs: string[] }[] }; repository: string };
      expect(prodResult.repository).toBe(join(dir.path, 'prod-repo'));
      expect(prodResult.manifest.parts[0]!.codecs).toEqual(['gzip']);
      expect((await run('backup', '--source', 'other', '--profile', 'prod', '--password-env', 'FLAG_PASSWORD', '--db', 'sqlite', '--file', join(dir.path, 'app.db'), '--verbose')).code).toBe(0);
      // A failing run (its archive target exists now) logs errors and notifies.
      const partial = await run('backup', '--source', 'app', '--profile', 'prod', '--verbose');
      expect(partial.code).toBe(5);
      expect(partial.stderr).toMatch(/E_PARTIAL/);

      const restoredDev = join(dir.path, 'restored-dev.db');
      expect((await run('restore', '--source', 'app', '--profile', 'dev', '--database', restoredDev)).code).toBe(0);
      expect(contentHashes(restoredDev)).toEqual(contentHashes(join(dir.path, 'dev.db')));
      const restoredProd = join(dir.path, 'restored-prod.db');
      expect((await run('restore', '--source', 'app', '--profile', 'prod', '--database', restoredProd)).code).toBe(0);
      expect(contentHashes(restoredProd)).toEqual(contentHashes(join(dir.path, 'app.db')));

      for (const profile of ['dev', 'prod']) {
        const show = await run('config', 'show', '--profile', profile, '--origin');
        expect(show.code).toBe(0);
        expect(show.stdout).toContain('[redacted]');
        const json = await run('config', 'show', '--profile', profile, '--json');
        expect(json.code).toBe(0);
      }
      const payloads = hook.requests.map((r) => JSON.parse(r.body) as { outcome: string });
      // `on:` lists outcomes exactly (README: a partial run is its own outcome, `on: [failure, partial]` to get
      // both): this hook asked for success and failure, so the three complete runs notify and the partial one does not.
      expect(payloads.map((p) => p.outcome)).toEqual(['success', 'success', 'success']);

      // Secrets appear nowhere: not in output, errors, logs or the catalog.
      const logDir = join(dir.path, 'state', 'dbbackup', 'logs');
      const logs = readdirSync(logDir).map((f) => readFileSync(join(logDir, f), 'utf8')).join('\n');
      expect(logs).toContain('backup complete');
      const catalog = readFileSync(join(dir.path, 'data', 'catalog.db')).toString('latin1');
      const webhookBodies = hook.requests.map((r) => r.body).join('\n');
      for (const secret of [PW_FILE, PW_ENV, PW_FLAG, PW_ENC, HOOK_SECRET]) {
        for (const [what, text] of [['output', outputs.join('\n')], ['logs', logs], ['catalog', catalog], ['webhook payloads', webhookBodies]] as const) {
          expect(text.includes(secret), `${secret} leaked into ${what}`).toBe(false);
        }
      }
    } finally {
      await hook.close();
    }
  });

  it('exits 2 with every problem listed for a broken config', async () => {
    await writeFile(join(dir.path, 'broken.yaml'), 'sources:\n  a: { engine: oracle, prot: 1 }\n');
    const r = await cli('config', 'validate', '--config', 'broken.yaml');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/sources\.a\.engine: expected one of/);
    expect(r.stderr).toMatch(/sources\.a\.prot: unknown key \(did you mean "port"\?\)/);
  });
});
