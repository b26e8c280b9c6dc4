import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/domain/diagnosis.js';
import { runCli } from '../helpers/cli.js';
import { type MariaDbServer, startMariaDb } from '../helpers/mariadb-server.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres-server.js';
import { type S3Server, s3CliEnv, startS3Server } from '../helpers/s3-server.js';
import { createNastyDatabase } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

// `dbbackup doctor` against real servers: PostgreSQL (wal_level=replica, so not ready for change
// capture), MariaDB, a SQLite file, s3rver, and an S3 bucket that does not exist.
let dir: { path: string; cleanup(): Promise<void> };
let pg: PostgresServer;
let maria: MariaDbServer;
let s3: S3Server;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await tempDir('dbb-doctor-');
  [pg, maria, s3] = await Promise.all([startPostgres(['-c', 'wal_level=replica']), startMariaDb(), startS3Server(['backups'])]);
  await pg.query('CREATE DATABASE app');
  await pg.query('CREATE TABLE t (id int PRIMARY KEY); CREATE ROLE reader LOGIN;', [], 'app');
  await maria.query('CREATE DATABASE app');
  await maria.query('CREATE TABLE app.t (id int PRIMARY KEY)');
  for (const user of ['bk', 'bk_min']) await maria.query(`CREATE USER '${user}'@'127.0.0.1'`);
  await maria.query("GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON app.* TO 'bk'@'127.0.0.1'");
  await maria.query("GRANT RELOAD, BINLOG MONITOR ON *.* TO 'bk'@'127.0.0.1'");
  await maria.query("GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON app.* TO 'bk_min'@'127.0.0.1'");
  createNastyDatabase(join(dir.path, 'app.db'), { bigText: 100 });
  const pgUrl = (user: string) => `postgres://${user}@127.0.0.1:${pg.port}/app`;
  await writeFile(
    join(dir.path, 'dbbackup.yaml'),
    `sources:
  pg_super: { engine: postgres, url: "${pgUrl('postgres')}" }
  pg_reader: { engine: postgres, url: "${pgUrl('reader')}" }
  maria: { engine: mysql, host: 127.0.0.1, port: ${maria.port}, user: bk, database: app }
  maria_min: { engine: mysql, host: 127.0.0.1, port: ${maria.port}, user: bk_min, database: app }
  lite: { engine: sqlite, database: ./app.db }
targets:
  disk: { url: ./repo }
  s3: { url: "s3://backups/prod" }
  nobucket: { url: "s3://no-such-bucket/prod" }
backups:
  lite: { targets: [disk, s3] }
schedules:
  - { name: reader-hourly, cron: "0 * * * *", task: backup, source: pg_reader, type: incremental }
`,
  );
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), ...s3CliEnv(s3, dir.path), DBBACKUP_MASTER_KEY_FILE: join(dir.path, 'master.key') };
});

afterAll(async () => {
  await Promise.allSettled([pg?.stop(), maria?.stop(), s3?.stop()]);
  await dir?.cleanup();
});

async function doctor(...args: string[]): Promise<{ code: number; findings: Finding[] }> {
  const r = await runCli(['doctor', '--json', ...args], { env, cwd: dir.path });
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout) as { exitCode: number; findings: Finding[] };
  expect(out.exitCode).toBe(r.code);
  return { code: r.code, findings: out.findings };
}

const one = (findings: Finding[], subject: string, check: string) => findings.filter((f) => f.subject === subject && f.check === check);

describe('dbbackup doctor', () => {
  it('checks every source and target, each problem with its fix, and exits 1 on a failure', async () => {
    const { code, findings } = await doctor();
    expect(code).toBe(1);
    for (const f of findings.filter((x) => x.status !== 'ok')) expect(f.fix, `${f.subject} ${f.check}`).toBeTruthy();

    // PostgreSQL as the superuser: reads everything, holds far more than it needs.
    expect(one(findings, 'source pg_super', 'version')[0]).toMatchObject({ status: 'ok', message: expect.stringMatching(/^PostgreSQL 15/) });
    expect(one(findings, 'source pg_super', 'tls')[0]).toMatchObject({ status: 'ok', message: expect.stringMatching(/local connection/) });
    expect(one(findings, 'source pg_super', 'privileges.backup')[0]).toMatchObject({ status: 'ok' });
    expect(one(findings, 'source pg_super', 'privileges.extra')[0]).toMatchObject({ status: 'warn', message: expect.stringMatching(/SUPERUSER/) });
    // Only full backups of it: capture settings are told, not failed.
    expect(one(findings, 'source pg_super', 'incremental')[0]).toMatchObject({ status: 'ok', message: expect.stringMatching(/wal_level is replica/) });

    // A role with no grants and an incremental schedule.
    expect(one(findings, 'source pg_reader', 'privileges.backup')[0]).toMatchObject({ status: 'fail', message: expect.stringMatching(/cannot read 1 tables.*public\.t/), fix: 'GRANT pg_read_all_data TO "reader";' });
    expect(one(findings, 'source pg_reader', 'privileges.extra')[0]).toMatchObject({ status: 'ok' });
    const capture = one(findings, 'source pg_reader', 'incremental')[0]!;
    expect(capture).toMatchObject({ status: 'fail', message: expect.stringMatching(/wal_level is replica.*lacks the REPLICATION attribute/) });
    expect(capture.fix).toMatch(/ALTER SYSTEM SET wal_level = logical.*ALTER ROLE "reader" REPLICATION/);

    // MariaDB: a least-privilege backup user, and one without RELOAD / BINLOG MONITOR.
    expect(one(findings, 'source maria', 'version')[0]!.message).toMatch(/MariaDB/);
    expect(one(findings, 'source maria', 'privileges.backup')).toEqual([expect.objectContaining({ status: 'ok' })]);
    expect(one(findings, 'source maria', 'privileges.extra')[0]).toMatchObject({ status: 'ok' });
    expect(one(findings, 'source maria', 'privileges.restore')[0]).toMatchObject({ status: 'ok', message: expect.stringMatching(/backup-only user/) });
    // Only full backups of it: a binary log it may not read is told, with the grant.
    expect(one(findings, 'source maria', 'incremental')[0]).toMatchObject({ status: 'ok', message: expect.stringMatching(/bk may not read the binary log/), fix: "GRANT REPLICATION SLAVE ON *.* TO 'bk'@'<host>';" });
    expect(one(findings, 'source maria_min', 'privileges.backup').map((f) => [f.status, f.fix])).toEqual([
      ['warn', "GRANT RELOAD ON *.* TO 'bk_min'@'<host>';"],
      ['warn', "GRANT BINLOG MONITOR ON *.* TO 'bk_min'@'<host>'; (MySQL: REPLICATION CLIENT)"],
    ]);

    expect(one(findings, 'source lite', 'reachability')[0]).toMatchObject({ status: 'ok' });

    // Targets: a folder and a bucket take the probe; a missing bucket fails with the grants to check.
    for (const t of ['target disk', 'target s3']) {
      expect(one(findings, t, 'probe')[0], t).toMatchObject({ status: 'ok' });
      expect(one(findings, t, 'clock')[0], t).toMatchObject({ status: 'ok', message: expect.stringMatching(/agrees/) });
    }
    const missing = one(findings, 'target nobucket', 'probe')[0] ?? one(findings, 'target nobucket', 'reachability')[0];
    expect(missing).toMatchObject({ status: 'fail', fix: expect.stringMatching(/s3:PutObject/) });

    expect(one(findings, 'schedule reader-hourly (source pg_reader)', 'last-success')[0]).toMatchObject({ status: 'warn', message: 'has not run yet' });
    expect(one(findings, 'host', 'free-space')).toHaveLength(2);
  });

  it('--source narrows the checks to one source and its targets; fixed grants pass; warnings alone exit 5', async () => {
    await pg.query('GRANT pg_read_all_data TO reader');
    const reader = await doctor('--source', 'pg_reader');
    expect(new Set(reader.findings.map((f) => f.subject))).toEqual(new Set(['source pg_reader', 'host', 'schedule reader-hourly (source pg_reader)']));
    expect(one(reader.findings, 'source pg_reader', 'privileges.backup')[0]).toMatchObject({ status: 'ok' });
    expect(reader.code).toBe(1); // the incremental schedule still cannot work

    const min = await doctor('--source', 'maria_min');
    expect(min.findings.filter((f) => f.status !== 'ok').map((f) => f.status)).toEqual(['warn', 'warn']);
    expect(min.code).toBe(5);

    const lite = await doctor('--source', 'lite');
    expect(lite.findings.filter((f) => f.status !== 'ok')).toEqual([]);
    expect(lite.code).toBe(0);
    expect(new Set(lite.findings.map((f) => f.subject))).toEqual(new Set(['source lite', 'target disk', 'target s3', 'host']));
  });

  it('fails a master key file others can read, and says so in words without --json', async () => {
    await writeFile(join(dir.path, 'master.key'), `${Buffer.alloc(32, 7).toString('base64')}\n`);
    await chmod(join(dir.path, 'master.key'), 0o644);
    const loose = await runCli(['doctor', '--source', 'lite'], { env, cwd: dir.path });
    expect(loose.code).toBe(1);
    expect(loose.stdout).toMatch(/FAIL\s+master-key\s+the master key file .*master\.key has mode 0644/);
    expect(loose.stdout).toContain(`fix: chmod 600 ${join(dir.path, 'master.key')}`);
    expect(loose.stdout).toMatch(/1 failed, 0 warnings, \d+ ok/);
    await chmod(join(dir.path, 'master.key'), 0o600);
    expect((await doctor('--source', 'lite')).code).toBe(0);
  });

  it('--print-grants prints roles that work: created from the script, they pass the checks with nothing to spare', async () => {
    const pgScript = await runCli(['doctor', '--print-grants', '--db', 'postgres'], { env, cwd: dir.path });
    expect(pgScript.code).toBe(0);
    expect(pgScript.stdout).toContain('GRANT pg_read_all_data TO dbbackup_backup;');
    const statements = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('--') && !l.startsWith('###'))
        .join('\n')
        .split(/;\s*(?:--[^\n]*)?\n/)
        .map((x) => x.trim())
        .filter(Boolean);
    for (const sql of statements(pgScript.stdout)) await pg.query(sql, [], 'app');
    const myScript = await runCli(['doctor', '--print-grants', '--db', 'mysql'], { env, cwd: dir.path });
    for (const sql of statements(myScript.stdout)) await maria.query(sql);
    await writeFile(
      join(dir.path, 'least.yaml'),
      `sources:
  pg: { engine: postgres, url: "postgres://dbbackup_backup@127.0.0.1:${pg.port}/app" }
  maria: { engine: mysql, host: 127.0.0.1, port: ${maria.port}, user: dbbackup_backup, password: "change me", database: app }
targets:
  s3: { url: "s3://backups/least" }
backups:
  pg: { targets: [s3] }
`,
    );
    const r = await runCli(['doctor', '--json', '--config', 'least.yaml'], { env, cwd: dir.path });
    const findings = (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
    for (const source of ['source pg', 'source maria']) {
      for (const check of ['privileges.backup', 'privileges.extra']) expect(one(findings, source, check), `${source} ${check}`).toEqual([expect.objectContaining({ status: 'ok' })]);
    }
    expect(one(findings, 'source maria', 'incremental')[0]!.message).toMatch(/^ready for incremental backups/);
    expect(one(findings, 'source pg', 'incremental')[0]!.message).toMatch(/wal_level is replica/); // the server's setting, not the role's
    expect(r.code).toBe(0);

    const forConfig = await runCli(['doctor', '--print-grants', '--json'], { env, cwd: dir.path });
    const titles = (JSON.parse(forConfig.stdout) as { grants: { title: string; text: string }[] }).grants.map((g) => g.title);
    expect(titles).toEqual(expect.arrayContaining(['source pg_super (postgres)', 'source maria (mysql)', 'source lite (sqlite)', 'target s3 (s3://backups/prod)']));
  });
});
