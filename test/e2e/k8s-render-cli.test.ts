import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

// `dbbackup k8s render` (issue #28), the built CLI: its output checked against a schema of the
// batch/v1 CronJob fields Kubernetes requires and the ones we promise.
const dns1123 = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).max(52);
const CronJob = z
  .object({
    apiVersion: z.literal('batch/v1'),
    kind: z.literal('CronJob'),
    metadata: z.object({ name: dns1123, namespace: dns1123.optional(), labels: z.record(z.string(), z.string().max(63)) }),
    spec: z.object({
      schedule: z.string().regex(/^(\S+\s+){4}\S+$|^@\w+$/),
      timeZone: z.string().min(1),
      concurrencyPolicy: z.literal('Forbid'),
      suspend: z.boolean(),
      startingDeadlineSeconds: z.number().int().positive(),
      successfulJobsHistoryLimit: z.number().int().nonnegative(),
      failedJobsHistoryLimit: z.number().int().nonnegative(),
      jobTemplate: z.object({
        spec: z.object({
          backoffLimit: z.number().int().nonnegative(),
          template: z.object({
            metadata: z.object({ labels: z.record(z.string(), z.string()) }),
            spec: z.object({
              restartPolicy: z.enum(['Never', 'OnFailure']),
              securityContext: z.object({ runAsNonRoot: z.literal(true) }).passthrough(),
              containers: z
                .array(
                  z
                    .object({
                      name: dns1123,
                      image: z.string().min(1),
                      args: z.array(z.string()),
                      env: z.array(z.object({ name: z.string().regex(/^[A-Z_][A-Z0-9_]*$/), value: z.string() }).strict()),
                      envFrom: z.array(z.object({ secretRef: z.object({ name: dns1123 }).strict() }).strict()).length(1),
                      volumeMounts: z.array(z.object({ name: dns1123, mountPath: z.string().startsWith('/'), readOnly: z.boolean().optional() }).strict()),
                      securityContext: z.object({}).passthrough(),
                    })
                    .strict(),
                )
                .length(1),
              volumes: z.array(z.object({ name: dns1123 }).passthrough()),
            }),
          }),
        }),
      }),
    }),
  })
  .strict();

let dir: Awaited<ReturnType<typeof tempDir>>;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  dir = await tempDir('k8s-');
  await writeFile(
    join(dir.path, 'dbbackup.yaml'),
    `
sources:
  main: { engine: postgres, url: "postgres://backup@db1:5432/app", password: "hunter2-not-for-output", scratch: "postgres://verify:scratch-secret-value@db2:5432/postgres" }
  app.db: { engine: sqlite, database: /var/lib/app/app.db }
targets:
  s3: { url: "s3://acme-backups/prod", region: eu-west-1, secret-access-key: "also-secret-value" }
backups:
  main: { targets: [s3] }
  app.db: { targets: [s3] }
schedules:
  - { name: main-nightly, cron: "0 2 * * *", task: backup, source: main, type: full, timezone: Europe/Berlin }
  - { name: Main_Verify, cron: "30 5 * * SUN", task: verify, source: main, timezone: UTC }
  - { name: app.db-prune, cron: "@daily", task: prune, source: app.db, enabled: false }
  - { name: main-restore-test, cron: "0 4 * * *", task: verify-restore, source: main, timezone: UTC }
`,
  );
  env = { DBBACKUP_CONFIG: join(dir.path, 'dbbackup.yaml'), DBBACKUP_DATA_DIR: join(dir.path, 'data'), DBBACKUP_LOG_FILE: 'off' };
});
afterAll(() => dir?.cleanup());

it('prints one CronJob per schedule that passes the schema: Forbid, the zone, secrets only by reference', async () => {
  const r = await runCli(['k8s', 'render', '--image', 'registry.example/dbbackup:1.0', '--namespace', 'backups'], { env });
  expect(r.code, r.stderr).toBe(0);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as unknown);
  expect(docs).toHaveLength(4);
  const jobs = docs.map((d) => CronJob.parse(d));
  expect(jobs.map((j) => [j.metadata.name, j.spec.schedule, j.spec.timeZone, j.spec.suspend])).toEqual([
    ['dbbackup-main-nightly', '0 2 * * *', 'Europe/Berlin', false],
    ['dbbackup-main-verify', '30 5 * * SUN', 'UTC', false],
    ['dbbackup-app-db-prune', '@daily', expect.any(String), true],
    ['dbbackup-main-restore-test', '0 4 * * *', 'UTC', false],
  ]);
  const args = jobs.map((j) => j.spec.jobTemplate.spec.template.spec.containers[0]!.args.join(' '));
  expect(args[0]).toMatch(/^backup --source main --type full --config \/etc\/dbbackup\/dbbackup.yaml/);
  expect(args[1]).toMatch(/^verify latest --from s3:\/\/acme-backups\/prod --source main/);
  expect(args[2]).toMatch(/^prune --source app.db/);
  // The scratch server comes from the mounted config: its URL (with a password) is not in the CronJob.
  expect(args[3]).toMatch(/^verify latest --from s3:\/\/acme-backups\/prod --source main --deep --config \/etc\/dbbackup\/dbbackup.yaml/);
  expect(r.stdout).not.toContain('scratch-secret-value');
  expect(r.stdout).not.toContain('hunter2');
  expect(r.stdout).not.toContain('also-secret-value');
});

it('refuses a schedule with seconds (Kubernetes cron has none): exit 2', async () => {
  await writeFile(join(dir.path, 'seconds.yaml'), 'sources:\n  a: { engine: sqlite, database: /x.db }\nschedules:\n  - { name: fast, cron: "*/5 * * * * *", task: backup, source: a }\n');
  const r = await runCli(['k8s', 'render', '--image', 'x'], { env: { ...env, DBBACKUP_CONFIG: join(dir.path, 'seconds.yaml') } });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/E_USAGE.*no seconds field/);
});
