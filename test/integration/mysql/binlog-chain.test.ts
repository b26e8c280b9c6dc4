import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { backup, restore, showCreateAll, tableFingerprints, target } from './harness.js';

/**
 * Incremental backups from the binary log of a real MariaDB, with a writer running during every
 * backup; restores at three recorded instants must equal the state recorded then (CHECKSUM TABLE
 * of every table, SHOW CREATE of every object), across a DDL change.
 */

let server: MariaDbServer;
let work: string;

beforeAll(async () => {
  server = await startMariaDb();
  work = await mkdtemp(join(tmpdir(), 'dbb-binlog-'));
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Random transactions on app.t and app.t2 until stopped; pause() waits until none is running. */
class Writer {
  private paused = false;
  private stopped = false;
  private idle: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private i = 0;

  constructor(private readonly conn: mysql.Connection) {}

  start(): void {
    this.loop = this.run();
  }

  async pause(): Promise<void> {
    this.paused = true;
    await new Promise<void>((resolve) => (this.idle = resolve));
  }

  resume(): void {
    this.paused = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.paused = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.paused) {
        this.idle?.();
        this.idle = undefined;
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const n = ++this.i;
      const id = 1 + (n % 50);
      if (n % 4 === 0) {
        await this.conn.query('INSERT INTO t (v, n) VALUES (?, ?)', [`row ${n} é ✓`, n]);
      } else if (n % 4 === 1) {
        await this.conn.query('BEGIN');
        await this.conn.query('UPDATE t SET n = n + 1, v = CONCAT(v, ?) WHERE id = ?', ['+', id]);
        await this.conn.query('INSERT INTO t2 (k, payload) VALUES (?, ?) ON DUPLICATE KEY UPDATE payload = VALUES(payload)', [id, Buffer.from([n & 255, 0, 255, 39, 92])]);
        await this.conn.query('COMMIT');
      } else if (n % 4 === 2) {
        await this.conn.query('DELETE FROM t WHERE id = ?', [id + 25]);
      } else {
        await this.conn.query('UPDATE t2 SET payload = NULL WHERE k = ?', [id]);
      }
    }
  }
}

interface Instant {
  at: Date;
  tables: Awaited<ReturnType<typeof tableFingerprints>>;
  objects: Record<string, string>;
}

/** The state now, with the writer paused; the writer resumes once the server's clock left this second (binlog times are whole seconds). */
async function instant(writer: Writer): Promise<Instant> {
  await writer.pause();
  const tables = await tableFingerprints(server, 'app');
  const objects = await showCreateAll(server, 'app');
  const [row] = await server.query<{ t: string }>('SELECT UNIX_TIMESTAMP(NOW(3)) AS t');
  const at = new Date(Math.round(Number(row!.t) * 1000));
  for (;;) {
    const [now] = await server.query<{ t: string }>('SELECT UNIX_TIMESTAMP() AS t');
    if (Number(now!.t) > Math.floor(at.getTime() / 1000)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  writer.resume();
  return { at, tables, objects };
}

const settle = () => new Promise((r) => setTimeout(r, 300));

describe('MySQL binlog incremental chain (MariaDB)', () => {
  it('restores at three instants exactly, across a DDL change, and stores binlog files mariadb-binlog reads', async () => {
    await server.query('CREATE DATABASE app');
    const conn = await server.connect('app');
    await conn.query('CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(200) CHARACTER SET utf8mb4, n BIGINT)');
    await conn.query('CREATE TABLE t2 (k INT PRIMARY KEY, payload VARBINARY(64))');
    for (let i = 0; i < 60; i++) await conn.query('INSERT INTO t (v, n) VALUES (?, ?)', [`seed ${i}`, i]);
    const writer = new Writer(conn);
    writer.start();
    const repository = join(work, 'repo');
    const dataDir = join(work, 'data');
    const src = target(server, 'app');
    try {
      const full = await backup(dataDir, { target: src, repository });
      expect(full.manifest.logPosition).toMatchObject({ file: expect.stringMatching(/binlog\.\d+$/), position: expect.any(Number), flavor: 'mariadb' });
      await settle();
      const a = await instant(writer);
      await settle();
      await backup(dataDir, { target: src, repository, kind: 'incremental', compression: { codec: 'none' } });
      await settle();
      await writer.pause();
      await conn.query('ALTER TABLE t ADD COLUMN extra INT NOT NULL DEFAULT 7, ADD KEY n_idx (n)');
      writer.resume();
      await settle();
      const b = await instant(writer);
      await settle();
      await backup(dataDir, { target: src, repository, kind: 'incremental' });
      await settle();
      const c = await instant(writer);
      await settle();
      const last = await backup(dataDir, { target: src, repository, kind: 'incremental' });
      expect(last.manifest.kind).toBe('incremental');
      await writer.stop();

      for (const [i, point] of [a, b, c].entries()) {
        const into = `r${i}`;
        await restore(dataDir, { target: target(server, into, { create: true }), repository, at: point.at });
        expect(await tableFingerprints(server, into), `tables at instant ${i}`).toEqual(point.tables);
        expect(await showCreateAll(server, into), `objects at instant ${i}`).toEqual(point.objects);
      }

      // The stored changes are binlog files the server's own tool reads.
      const source = (await readdir(repository)).find((d) => !d.endsWith('.json'))!;
      const ids = (await readdir(join(repository, source))).filter((d) => d.includes('-incremental-')).sort();
      const dir = join(repository, source, ids[0]!, 'changes');
      const files = (await readdir(dir)).filter((f) => f.endsWith('.binlog'));
      expect(files.length).toBeGreaterThan(0);
      const { stdout } = await promisify(execFile)('mariadb-binlog', ['-v', join(dir, files[0]!)], { maxBuffer: 64 << 20 });
      expect(stdout).toMatch(/### (INSERT INTO|UPDATE) `app`\.`t2?`/);
    } finally {
      await writer.stop();
      await conn.end();
    }
  }, 300_000);

  it('ends the chain with E_LOG_PURGED when the binlog past the parent was purged', async () => {
    await server.query('CREATE DATABASE purged');
    await server.query('CREATE TABLE purged.x (id INT PRIMARY KEY)');
    const repository = join(work, 'repo-purged');
    const dataDir = join(work, 'data-purged');
    const src = target(server, 'purged');
    await backup(dataDir, { target: src, repository });
    await server.query('INSERT INTO purged.x VALUES (1)');
    const parentFile = (await server.query<{ File: string }>('SHOW MASTER STATUS'))[0]!.File;
    // MariaDB keeps a file until InnoDB checkpointed its transactions: flush and purge until it is gone.
    for (let i = 0; i < 100; i++) {
      await server.query('FLUSH BINARY LOGS');
      const [status] = await server.query<{ File: string }>('SHOW MASTER STATUS');
      await server.query(`PURGE BINARY LOGS TO '${status!.File}'`);
      const logs = await server.query<{ Log_name: string }>('SHOW BINARY LOGS');
      if (!logs.some((l) => l.Log_name === parentFile)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await server.query<{ Log_name: string }>('SHOW BINARY LOGS')).map((l) => l.Log_name)).not.toContain(parentFile);
    const err = await backup(dataDir, { target: src, repository, kind: 'incremental' }).then(
      (r) => new Error(`the incremental ${r.manifest.id} was taken`),
      (e: unknown) => e,
    );
    expect(isDbBackupError(err, 'E_LOG_PURGED'), String((err as Error).message)).toBe(true);
  }, 120_000);
});
