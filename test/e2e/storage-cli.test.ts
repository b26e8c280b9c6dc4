import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AZURITE_KEY, type Azurite, startAzurite } from '../helpers/azurite.js';
import { runCli } from '../helpers/cli.js';
import { type GcsFake, startGcsFake } from '../helpers/gcs-fake.js';
import { S3RVER_CREDENTIALS, type S3Server, s3CliEnv, startS3Server } from '../helpers/s3-server.js';
import { contentHashes, createNastyDatabase, schemaOf } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

// The built CLI (`npm run build` first) backs up to, lists, verifies and restores from each cloud
// store, configured only through the environment as a user would.
let dir: { path: string; cleanup(): Promise<void> };
let s3: S3Server;
let azurite: Azurite;
let gcs: GcsFake;
let env: NodeJS.ProcessEnv;
let db: string;

beforeAll(async () => {
  dir = await tempDir('dbb-cloud-e2e-');
  [s3, azurite, gcs] = await Promise.all([startS3Server(['backups']), startAzurite(), startGcsFake()]);
  gcs.createBucket('backups');
  await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('backups').create();
  db = join(dir.path, 'app.db');
  createNastyDatabase(db);
  env = {
    DBBACKUP_DATA_DIR: join(dir.path, 'data'),
    ...s3CliEnv(s3, dir.path),
    DBBACKUP_AZURE_ENDPOINT: azurite.endpoint,
    AZURE_STORAGE_KEY: AZURITE_KEY,
    DBBACKUP_GCS_ENDPOINT: gcs.endpoint,
  };
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), azurite?.stop(), gcs?.stop()]);
  await dir?.cleanup();
});

const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });

describe.each([
  ['s3', 's3://backups/prod/app'],
  ['azure', 'azure://devstoreaccount1/backups/prod/app'],
  ['gcs', 'gs://backups/prod/app'],
])('dbbackup CLI with a %s repository', (name, url) => {
  it('backup → list → verify → restore gives an identical database; prune keeps the newest', async () => {
    const b = await cli('backup', '--db', 'sqlite', '--file', db, '--out', url, '--json');
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const { id } = JSON.parse(b.stdout) as { id: string };

    const list = await cli('list', '--from', url, '--json');
    expect(list.code).toBe(0);
    const backups = (JSON.parse(list.stdout) as { backups: { id: string; status: string }[] }).backups;
    expect(backups).toEqual([expect.objectContaining({ id, status: 'complete' })]);

    const v = await cli('verify', '--from', url, id);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('intact');

    const restored = join(dir.path, `restored-${name}.db`);
    const r = await cli('restore', '--from', url, '--backup', 'latest', '--db', 'sqlite', '--file', restored);
    expect(r.code).toBe(0);
    expect(schemaOf(restored)).toEqual(schemaOf(db));
    expect(contentHashes(restored)).toEqual(contentHashes(db));

    const second = await cli('backup', '--db', 'sqlite', '--file', db, '--out', url, '--json');
    expect(second.code).toBe(0);
    const newer = (JSON.parse(second.stdout) as { id: string }).id;
    const p = await cli('prune', '--from', url, '--keep-last', '1');
    expect(p.code).toBe(0);
    const after = await cli('list', '--from', url, '--json');
    expect((JSON.parse(after.stdout) as { backups: { id: string }[] }).backups.map((x) => x.id)).toEqual([newer]);
  });
});

describe('cloud repository errors', () => {
  it('names a missing bucket clearly and exits non-zero, without secrets', async () => {
    const r = await cli('backup', '--db', 'sqlite', '--file', db, '--out', 's3://no-such-bucket/x');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/bucket does not exist/);
    expect(r.stderr).not.toContain(S3RVER_CREDENTIALS.secretAccessKey + '/');
    const az = await cli('list', '--from', 'azure://devstoreaccount1/missing-container/x');
    expect(az.code).not.toBe(0);
    expect(az.stderr + az.stdout).not.toContain(AZURITE_KEY);
  });
});

describe('dbbackup CLI with several targets in one run', () => {
  const urls = () => [join(dir.path, 'multi-local'), 's3://backups/multi/app', 'azure://devstoreaccount1/backups/multi/app', 'gs://backups/multi/app'];

  for (const fanout of ['concurrent', 'sequential']) {
    it(`${fanout}: one snapshot lands in local + S3 + Azure + GCS under one id; each lists, verifies and restores`, async () => {
      const out = urls().map((u) => `${u}-${fanout}`);
      const b = await cli('backup', '--db', 'sqlite', '--file', db, ...out.flatMap((u) => ['--out', u]), '--fanout', fanout, '--json');
      expect(b.code, b.stderr).toBe(0);
      const result = JSON.parse(b.stdout) as { id: string; repositories: { repository: string; ok: boolean }[] };
      expect(result.repositories.map((r) => r.ok)).toEqual([true, true, true, true]);
      for (const [i, url] of out.entries()) {
        const list = await cli('list', '--from', url, '--json');
        expect(list.code, list.stderr).toBe(0);
        expect((JSON.parse(list.stdout) as { backups: { id: string }[] }).backups.map((x) => x.id)).toEqual([result.id]);
        const v = await cli('verify', '--from', url, '--backup', result.id);
        expect(v.code, v.stderr).toBe(0);
        const restored = join(dir.path, `multi-${fanout}-${i}.db`);
        const r = await cli('restore', '--from', url, '--backup', result.id, '--db', 'sqlite', '--database', restored);
        expect(r.code, r.stderr).toBe(0);
        expect(contentHashes(restored)).toEqual(contentHashes(db));
        expect(schemaOf(restored)).toEqual(schemaOf(db));
      }
    });
  }

  it('a target that cannot be written is dropped: exit 5, and the others hold a verifiable backup', async () => {
    const out = [join(dir.path, 'multi-ok'), 's3://no-such-bucket/app', 'azure://devstoreaccount1/backups/partial/app'];
    const b = await cli('backup', '--db', 'sqlite', '--file', db, ...out.flatMap((u) => ['--out', u]));
    expect(b.code).toBe(5);
    expect(b.stderr).toMatch(/E_PARTIAL/);
    expect(b.stderr).toMatch(/2 of 3 targets/);
    expect(b.stderr).toContain('no-such-bucket');
    for (const url of [out[0]!, out[2]!]) {
      const v = await cli('verify', '--from', url, '--backup', 'latest');
      expect(v.code, v.stderr).toBe(0);
    }
  });
});

describe('the scheduler daemon with cloud targets', () => {
  it('passes its --s3-endpoint flag on to the job workers', async () => {
    const { writeFile } = await import('node:fs/promises');
    const config = join(dir.path, 'sched.yaml');
    await writeFile(
      config,
      `sources:\n  app: { engine: sqlite, database: ${db} }\ntargets:\n  s3: { url: s3://backups/sched/app }\nbackups:\n  app: { targets: [s3] }\n` +
        'schedules:\n  - { name: nightly, cron: "* * * * * *", task: backup, source: app, timezone: UTC }\n',
    );
    const { DBBACKUP_S3_ENDPOINT: endpoint, ...rest } = env;
    const schedEnv = { ...rest, DBBACKUP_CONFIG: config, DBBACKUP_DATA_DIR: join(dir.path, 'sched-data'), XDG_STATE_HOME: join(dir.path, 'sched-state') };
    const run = () => runCli(['schedule', 'run', '--once', '--retries', '0', '--s3-endpoint', endpoint!], { env: schedEnv, cwd: dir.path });
    expect((await run()).code).toBe(0); // records where the schedule starts
    await new Promise((r) => setTimeout(r, 1_200));
    const once = await run();
    expect(once.code, once.stdout + once.stderr).toBe(0);
    expect(once.stdout + once.stderr).toMatch(/1 run\(s\), 0 failed/);
    const list = await cli('list', '--from', 's3://backups/sched/app', '--json');
    expect((JSON.parse(list.stdout) as { backups: unknown[] }).backups).toHaveLength(1);
  });
});
