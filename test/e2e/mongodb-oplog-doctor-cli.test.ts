import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BSON, Timestamp } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/domain/diagnosis.js';
import { runCli } from '../helpers/cli.js';
import { type CongoHandle, startCongo } from '../helpers/congodb.js';
import { tempDir } from '../helpers/temp.js';

/** `doctor` reads the config's schedules and compares their longest interval with a MongoDB source's oplog window (CongoDB + oplog double). */
const noop = (t: number) => Buffer.from(BSON.serialize({ op: 'n', ns: '', o: { msg: 'periodic noop' }, ts: new Timestamp({ t, i: 1 }), t: BSON.Long.fromNumber(1), wall: new Date(t * 1000) }));
let dir: { path: string; cleanup(): Promise<void> };
let congo: CongoHandle;

beforeAll(async () => {
  dir = await tempDir('dbb-e2e-oplog-doctor-');
  // An oplog window of 10 hours.
  congo = await startCongo({ replicaSet: { name: 'rs0', entries: [noop(1_760_000_000), noop(1_760_036_000)] } });
  await congo.client.db('app').collection('t').insertOne({ x: 1 });
  await writeFile(
    join(dir.path, 'dbbackup.yaml'),
    `sources:
  daily: { engine: mongodb, url: "${congo.url('app')}" }
  hourly: { engine: mongodb, url: "${congo.url('app')}" }
  fulls: { engine: mongodb, url: "${congo.url('app')}" }
schedules:
  - { name: daily-incr, cron: "0 2 * * *", task: backup, source: daily, type: incremental, timezone: UTC }
  - { name: hourly-incr, cron: "0 * * * *", task: backup, source: hourly, type: incremental, timezone: UTC }
  - { name: nightly-full, cron: "0 2 * * *", task: backup, source: fulls, type: full }
`,
  );
});

afterAll(async () => {
  await congo?.stop();
  await dir?.cleanup();
});

describe('dbbackup doctor: the MongoDB oplog window against the schedules', () => {
  it('fails a source whose incrementals are further apart than the window, passes one inside it, and only reports it for fulls', async () => {
    const r = await runCli(['doctor', '--json'], { env: { DBBACKUP_DATA_DIR: join(dir.path, 'data') }, cwd: dir.path });
    const findings = (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
    const oplog = (source: string) => findings.find((f) => f.subject === `source ${source}` && f.check === 'oplog');
    expect(oplog('daily')).toMatchObject({ status: 'fail', message: expect.stringMatching(/oplog window 10\.0 h.*24\.0 h between scheduled incrementals/), fix: expect.stringMatching(/replSetResizeOplog/) });
    expect(oplog('hourly')).toMatchObject({ status: 'ok', message: expect.stringMatching(/at most 1\.0 h apart/) });
    expect(oplog('fulls')).toMatchObject({ status: 'ok', message: expect.stringMatching(/^oplog window 10\.0 h/) });
    expect(findings.find((f) => f.subject === 'source daily' && f.check === 'version')?.message).toMatch(/replica set rs0/);
    expect(r.code).toBe(1);
  });
});
