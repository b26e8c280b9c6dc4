import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

/**
 * The example connector plugin used as a user would: installed as a package next to the project
 * (node_modules/dbbackup-connector-duckdb, found by its name) or named under `plugins:` in the
 * config, and driven through the built CLI (`npm run build` first).
 */
const PLUGIN_DIR = fileURLToPath(new URL('../../plugins/dbbackup-connector-duckdb', import.meta.url));

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let project: string;
let source: string;

async function query(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(path);
  const conn = await instance.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

const fingerprint = (path: string) =>
  query(path, `SELECT (SELECT md5(string_agg(t::VARCHAR, '|' ORDER BY t::VARCHAR)) FROM items t) AS items, (SELECT count(*)::VARCHAR FROM sales.orders) AS orders`);

beforeAll(async () => {
  dir = await tempDir('dbb-duckdb-e2e-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), XDG_STATE_HOME: join(dir.path, 'state') };
  project = join(dir.path, 'project');
  await mkdir(join(project, 'node_modules'), { recursive: true });
  await symlink(PLUGIN_DIR, join(project, 'node_modules', 'dbbackup-connector-duckdb'), 'dir');
  source = join(project, 'app.duckdb');
  await query(
    source,
    `CREATE SCHEMA sales; CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR, price DECIMAL(10,2), tags VARCHAR[], seen TIMESTAMPTZ);
     INSERT INTO items VALUES (1, 'ünï 😀', 9.99, ['a', NULL], '2026-01-01 00:00:00+00'), (2, '', NULL, [], NULL), (3, NULL, -0.5, NULL, 'infinity');
     CREATE TABLE sales.orders AS SELECT i AS id, i * 2 AS qty FROM range(1000) t(i);`,
  );
});

afterAll(() => dir.cleanup());

describe('dbbackup CLI with an installed connector plugin (dbbackup-connector-duckdb)', () => {
  it('finds the installed package by its name: backup, then restore into a new file, exactly', async () => {
    const b = await runCli(['backup', '--db', 'duckdb', '--database', source, '--out', 'repo', '--option', 'threads=1', '--json'], { env, cwd: project });
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const backup = JSON.parse(b.stdout) as { manifest: { engine: string; objects: { name: string; rows?: number }[] } };
    expect(backup.manifest.engine).toBe('duckdb');
    expect(backup.manifest.objects).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'sales.orders', rows: 1000 })]));

    const target = join(project, 'restored.duckdb');
    const dry = await runCli(['restore', '--from', 'repo', '--db', 'duckdb', '--database', target, '--dry-run'], { env, cwd: project });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/does not exist/);
    expect(existsSync(target)).toBe(false);

    const r = await runCli(['restore', '--from', 'repo', '--db', 'duckdb', '--database', target], { env, cwd: project });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await fingerprint(target)).toEqual(await fingerprint(source));

    const again = await runCli(['restore', '--from', 'repo', '--db', 'duckdb', '--database', target, '--tables', 'items'], { env, cwd: project });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/E_TARGET_EXISTS.*--clean/s);
  });

  it("takes the plugin from the config's plugins: (a path), with its options from the source's options:", async () => {
    const elsewhere = join(dir.path, 'elsewhere');
    await mkdir(elsewhere);
    const config = join(elsewhere, 'dbbackup.yaml');
    await writeFile(
      config,
      [
        `plugins: [${JSON.stringify(PLUGIN_DIR)}]`,
        'sources:',
        `  app: { engine: duckdb, database: ${JSON.stringify(source)}, options: { threads: 2 } }`,
        'targets:',
        `  disk: { url: ${JSON.stringify(join(elsewhere, 'repo'))} }`,
        'backups:',
        '  app: { targets: [disk] }',
      ].join('\n'),
    );
    const b = await runCli(['backup', '--config', config, '--source', 'app', '--json'], { env, cwd: elsewhere });
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const target = join(elsewhere, 'copy.duckdb');
    const r = await runCli(['restore', '--config', config, '--source', 'app', '--db', 'duckdb', '--database', target], { env, cwd: elsewhere });
    expect(r.code).toBe(0);
    expect(await fingerprint(target)).toEqual(await fingerprint(source));
  });

  it("refuses options the engine does not declare, and engines no plugin provides (exit 2)", async () => {
    const flag = await runCli(['backup', '--db', 'duckdb', '--database', source, '--out', 'x', '--socket', '/tmp/s'], { env, cwd: project });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--socket is not an option of backup for the duckdb engine; its options: threads/);
    const option = await runCli(['backup', '--db', 'duckdb', '--database', source, '--out', 'x', '--option', 'threads=many'], { env, cwd: project });
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/--option threads takes a number/);
    const engine = await runCli(['backup', '--db', 'oracle', '--url', 'oracle://db/x', '--out', 'x'], { env, cwd: project });
    expect(engine.code).toBe(2);
    expect(engine.stderr).toMatch(/"oracle" is not supported here; engines: sqlite, postgres, mysql, mongodb, duckdb\b.*dbbackup-connector-oracle/s);
  });
});
