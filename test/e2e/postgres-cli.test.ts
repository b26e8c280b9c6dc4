import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres-server.js';
import { tempDir } from '../helpers/temp.js';
import { SCHEMA_SQL, createDatabase, normalizedSchema, tableHashes } from '../integration/postgres/fixtures.js';

let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-e2e-pg-')]);
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), PGPASSWORD: undefined, PGHOST: undefined, PGPORT: undefined, PGUSER: undefined, PGDATABASE: undefined };
  await createDatabase(server, 'shop', SCHEMA_SQL);
  // A password-protected role shows that PGPASSWORD / ~/.pgpass are used and a bad one maps to exit 3.
  await server.query(`CREATE ROLE backup_user LOGIN SUPERUSER PASSWORD 's3cret'`);
  await server.query(`ALTER SYSTEM SET password_encryption = 'scram-sha-256'`);
  await writeFile(join(server.dir, 'data', 'pg_hba.conf'), 'host all backup_user 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\nlocal all all trust\n');
  await server.query('SELECT pg_reload_conf()');
});

afterAll(async () => {
  await server?.stop();
  await dir?.cleanup();
});

const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(args, { env: { ...env, ...extra }, cwd: dir.path });

describe('dbbackup CLI with PostgreSQL', () => {
  it('backs up a database and restores it into a new one', async () => {
    const b = await cli(['backup', '--db', 'postgres', '--url', server.url('shop'), '--out', 'backups', '--parallel', '2', '--json']);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const { id, manifest } = JSON.parse(b.stdout) as { id: string; manifest: { objects: { name: string }[]; parts: { name: string }[] } };
    expect(manifest.parts.map((p) => p.name)).toEqual(expect.arrayContaining(['toc.json.zst', 'schema.sql.zst', 'post-data.sql.zst']));

    const dry = await cli(['restore', '--from', 'backups', '--db', 'postgres', '--url', server.url('shop_copy'), '--create', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/does not exist/);
    expect(dry.stdout).toContain('app.customers');
    expect(await server.query(`SELECT 1 FROM pg_database WHERE datname = 'shop_copy'`)).toEqual([]);

    const r = await cli([
      'restore', '--from', 'backups', '--backup', id, '--db', 'postgres', '--host', '127.0.0.1', '--port', String(server.port),
      '--user', 'postgres', '--database', 'shop_copy', '--create', '--restore-owner', '--restore-grants', '--parallel', '2',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Restored backup .* into postgres@127\.0\.0\.1:\d+\/shop_copy/);
    expect(await tableHashes(server, 'shop_copy')).toEqual(await tableHashes(server, 'shop'));
    expect(normalizedSchema(server, 'shop_copy')).toEqual(normalizedSchema(server, 'shop'));

    const again = await cli(['restore', '--from', 'backups', '--db', 'postgres', '--url', server.url('shop_copy')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/E_TARGET_EXISTS.*--clean/);
  });

  it('takes the password from PGPASSWORD or ~/.pgpass and maps failures to exit 3', async () => {
    const url = `postgres://backup_user@127.0.0.1:${server.port}/shop`;
    const ok = await cli(['backup', '--db', 'postgres', '--url', url, '--out', 'pw-backups', '--tables', 'app.log'], { PGPASSWORD: 's3cret' });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);

    const pgpass = join(dir.path, 'pgpass');
    await writeFile(pgpass, `127.0.0.1:${server.port}:*:backup_user:s3cret\n`);
    await chmod(pgpass, 0o600);
    const viaFile = await cli(['backup', '--db', 'postgres', '--url', url, '--out', 'pw-backups', '--tables', 'app.log'], { PGPASSFILE: pgpass });
    expect(viaFile.code).toBe(0);

    const bad = await cli(['backup', '--db', 'postgres', '--url', url, '--out', 'pw-backups', '--password-env', 'PW'], { PW: 'wrong' });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/E_AUTH/);
    expect(bad.stderr).not.toContain('wrong');

    const refused = await cli(['backup', '--db', 'postgres', '--host', '127.0.0.1', '--port', '1', '--database', 'x', '--out', 'pw-backups']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/E_CONN_REFUSED/);
  });
});
