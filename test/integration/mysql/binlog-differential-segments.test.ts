import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { backup, restore, showCreateAll, tableFingerprints, target } from './harness.js';

/**
 * A differential after the server purged the binary log since the full: it is assembled from the
 * stored incrementals since the full (their binlog files and index lines) and the server's log
 * from the end of the last one it still has a file for, and restores (full + differential) exactly.
 */
let server: MariaDbServer;
let work: string;

beforeAll(async () => {
  server = await startMariaDb();
  work = await mkdtemp(join(tmpdir(), 'dbb-binlog-diff-'));
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

async function currentFile(): Promise<string> {
  return (await server.query<{ File: string }>('SHOW MASTER STATUS'))[0]!.File;
}

/** Purges every binlog file before `keep` (MariaDB keeps a file until InnoDB checkpointed it: retried). */
async function purgeBefore(keep: string, gone: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await server.query(`PURGE BINARY LOGS TO '${keep}'`);
    if (!(await server.query<{ Log_name: string }>('SHOW BINARY LOGS')).some((l) => l.Log_name === gone)) return;
    await server.query('FLUSH LOGS');
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${gone} was not purged`);
}

describe('MySQL differential from stored segments (MariaDB)', () => {
  it('assembles a differential from the stored incrementals and the server tail when the log since the full was purged', async () => {
    await server.query(`CREATE DATABASE app; USE app;
      CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100), n INT);
      INSERT INTO t (v, n) VALUES ('seed', 0);`);
    const dataDir = join(work, 'data');
    const repository = join(work, 'repo');
    const src = target(server, 'app');
    const full = await backup(dataDir, { target: src, repository });
    const fullFile = (full.manifest.logPosition as { file: string }).file;

    await server.query("INSERT INTO app.t (v, n) VALUES ('a1', 1), ('a2', 2); UPDATE app.t SET n = 10 WHERE v = 'seed'");
    const inc1 = await backup(dataDir, { target: src, repository, kind: 'incremental' });
    await server.query('FLUSH BINARY LOGS');
    await server.query("DELETE FROM app.t WHERE v = 'a1'; CREATE TABLE app.u (k INT PRIMARY KEY); INSERT INTO app.u VALUES (1), (2)");
    const inc2 = await backup(dataDir, { target: src, repository, kind: 'incremental' });
    const inc2File = (inc2.manifest.logPosition as { file: string }).file;
    expect(inc2File).not.toBe(fullFile);
    await server.query("INSERT INTO app.t (v, n) VALUES ('c', 3); UPDATE app.u SET k = k + 10");
    await server.query('FLUSH BINARY LOGS');
    await server.query("INSERT INTO app.t (v, n) VALUES ('d', 4)");
    await purgeBefore(inc2File, fullFile);
    const serverFiles = (await server.query<{ Log_name: string }>('SHOW BINARY LOGS')).map((l) => l.Log_name);
    expect(serverFiles).not.toContain(fullFile);
    expect(serverFiles).toContain(inc2File);

    const diff = await backup(dataDir, { target: src, repository, kind: 'differential', compression: { codec: 'none' } });
    expect(diff.manifest.kind).toBe('differential');
    expect(diff.manifest.parent).toBe(full.manifest.id);
    expect(diff.manifest.warnings.join('\n')).toContain(`holds the 2 stored incremental(s) since it (${inc1.manifest.id}, ${inc2.manifest.id}) and the server's log from ${inc2File}:`);
    expect(diff.manifest.objects.map((o) => o.name)).toEqual(['app.t', 'app.u']);

    // Every stored part (copied from the incrementals, then the server's tail) is a binlog file mariadb-binlog reads.
    const dir = join(repository, 'app', diff.manifest.id, 'changes');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.binlog')).sort();
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) expect((await promisify(execFile)('mariadb-binlog', [join(dir, f)])).stdout).toMatch(/# End of log file/);

    await restore(dataDir, { target: target(server, 'app', { targetDatabase: 'copy', create: true }), repository, backup: diff.manifest.id });
    expect(await tableFingerprints(server, 'copy')).toEqual(await tableFingerprints(server, 'app'));
    expect(await showCreateAll(server, 'copy')).toEqual(await showCreateAll(server, 'app'));

    // Once no stored link ends in a file the server still has, the chain ends.
    await server.query('FLUSH BINARY LOGS');
    await purgeBefore(await currentFile(), (diff.manifest.logPosition as { file: string }).file);
    const err = await backup(dataDir, { target: src, repository, kind: 'differential' }).then(
      (r) => new Error(`the differential ${r.manifest.id} was taken`),
      (e: unknown) => e,
    );
    expect(isDbBackupError(err, 'E_LOG_PURGED'), String((err as Error).message)).toBe(true);
  }, 120_000);
});
