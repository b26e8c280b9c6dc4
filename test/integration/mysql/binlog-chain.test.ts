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
  server = await startMariaDb({ args: ['--max-allowed-packet=256M'] });
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
      // The server starts a new binlog file: the incremental reads across it, one stored file per server file.
      await server.query('FLUSH BINARY LOGS');
      await settle();
      const inc1 = await backup(dataDir, { target: src, repository, kind: 'incremental', compression: { codec: 'none' } });
      expect(inc1.manifest.parts.filter((p) => p.name.endsWith('.binlog')).length).toBeGreaterThanOrEqual(2);
      expect(inc1.manifest.objects.map((o) => o.name)).toEqual(['app.t', 'app.t2']);
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
      let printed = '';
      for (const f of files) printed += (await promisify(execFile)('mariadb-binlog', ['-v', join(dir, f)], { maxBuffer: 64 << 20 })).stdout;
      expect(printed).toMatch(/### (INSERT INTO|UPDATE) `app`\.`t2?`/);
      expect(printed).toMatch(/Rotate to binlog\.\d+/);
    } finally {
      await writer.stop();
      await conn.end();
    }
  }, 300_000);

  it('takes a differential (the log since the full) that restores like the incrementals before it', async () => {
    await server.query('CREATE DATABASE diff; CREATE TABLE diff.d (id INT PRIMARY KEY, v INT); CREATE TABLE diff.e (id INT PRIMARY KEY)');
    const repository = join(work, 'repo-diff');
    const dataDir = join(work, 'data-diff');
    const src = target(server, 'diff');
    const full = await backup(dataDir, { target: src, repository });
    await server.query('INSERT INTO diff.d VALUES (1, 1), (2, 2)');
    const inc = await backup(dataDir, { target: src, repository, kind: 'incremental' });
    await server.query('UPDATE diff.d SET v = 20 WHERE id = 2; DELETE FROM diff.d WHERE id = 1; INSERT INTO diff.d VALUES (3, 3), (4, 4)');
    await server.query('BEGIN; INSERT INTO diff.e VALUES (1); UPDATE diff.d SET v = 40 WHERE id = 4; COMMIT');
    const diff = await backup(dataDir, { target: src, repository, kind: 'differential' });
    expect(diff.manifest).toMatchObject({ kind: 'differential', parent: full.manifest.id });
    // The incremental's transaction and the three after it (autocommit statements).
    expect(diff.manifest.engineInfo.changes).toBe((inc.manifest.engineInfo.changes as number) + 4);
    const expected = await tableFingerprints(server, 'diff');
    const restored = await restore(dataDir, { target: target(server, 'diff_copy', { create: true }), repository });
    expect(restored.chain?.links.map((l) => l.kind)).toEqual(['full', 'differential']);
    expect(await tableFingerprints(server, 'diff_copy')).toEqual(expected);
    // --tables: the chosen table from the full, then only its rows from the log (a transaction touching both included).
    await restore(dataDir, { target: target(server, 'diff_d', { create: true }), repository, tables: ['d'] });
    expect(await tableFingerprints(server, 'diff_d')).toEqual({ d: expected.d });
  }, 120_000);

  it('after a crash between storing an incremental\'s parts and its manifest, the next incremental covers those changes', async () => {
    await server.query('CREATE DATABASE crash; CREATE TABLE crash.c (id INT PRIMARY KEY, v INT)');
    const repository = join(work, 'repo-crash');
    const dataDir = join(work, 'data-crash');
    const src = target(server, 'crash');
    const full = await backup(dataDir, { target: src, repository });
    await server.query('INSERT INTO crash.c VALUES (1, 1), (2, 2)');
    const lost = await backup(dataDir, { target: src, repository, kind: 'incremental' });
    // The crash: its parts are stored, its manifest (written last) is not.
    await rm(join(repository, lost.manifest.source, lost.manifest.id, 'manifest.json'));
    await server.query('UPDATE crash.c SET v = 20 WHERE id = 2');
    const next = await backup(dataDir, { target: src, repository, kind: 'incremental' });
    expect(next.manifest.parent).toBe(full.manifest.id);
    expect(next.manifest.engineInfo.changes).toBe(2);
    const expected = await tableFingerprints(server, 'crash');
    await restore(dataDir, { target: target(server, 'crash_copy', { create: true }), repository });
    expect(await tableFingerprints(server, 'crash_copy')).toEqual(expected);
  }, 120_000);

  it('carries an event over 16 MB (a payload split over several packets) into the backup and back', async () => {
    await server.query('CREATE DATABASE big');
    await server.query('CREATE TABLE big.b (id INT PRIMARY KEY, data LONGBLOB)');
    await server.query('CREATE DATABASE other');
    await server.query('CREATE TABLE other.o (id INT AUTO_INCREMENT PRIMARY KEY)');
    const repository = join(work, 'repo-big');
    const dataDir = join(work, 'data-big');
    await backup(dataDir, { target: target(server, 'big'), repository });
    const conn = await server.connect('big');
    try {
      const blob = Buffer.alloc(20 << 20);
      for (let i = 0; i < blob.length; i += 4) blob.writeUInt32LE((i * 2654435761) >>> 0, i);
      await conn.query('INSERT INTO b VALUES (1, ?), (2, NULL)', [blob]);
      await conn.query('UPDATE b SET data = ? WHERE id = 2', [blob.subarray(0, 1 << 20)]);
      // Another database's changes are in the same log: neither counted nor replayed.
      await conn.query('INSERT INTO other.o VALUES (), ()');
      await conn.query('USE other');
      await conn.query('CREATE TABLE made_later (x INT)');
    } finally {
      await conn.end();
    }
    const inc = await backup(dataDir, { target: target(server, 'big'), repository, kind: 'incremental', compression: { codec: 'none' } });
    expect(inc.manifest.engineInfo.changes).toBe(2);
    const expected = await tableFingerprints(server, 'big');
    await restore(dataDir, { target: target(server, 'big_copy', { create: true }), repository });
    expect(await tableFingerprints(server, 'big_copy')).toEqual(expected);
    expect(await tableFingerprints(server, 'other')).toEqual({ made_later: { rows: 0, checksum: expect.any(String) }, o: { rows: 2, checksum: expect.any(String) } });
  }, 300_000);

  it('names the missing privileges: BINLOG MONITOR to read the position, REPLICATION SLAVE to read the log', async () => {
    await server.query('CREATE DATABASE priv');
    await server.query('CREATE TABLE priv.p (id INT PRIMARY KEY)');
    await server.query("CREATE USER 'backup'@'%' IDENTIFIED BY 'pw-1'");
    await server.query("GRANT SELECT, RELOAD, LOCK TABLES, SHOW VIEW, EVENT, TRIGGER ON *.* TO 'backup'@'%'");
    const as = { engine: 'mysql', host: '127.0.0.1', port: server.port, user: 'backup', password: 'pw-1', database: 'priv', options: {} };
    const repository = join(work, 'repo-priv');
    const dataDir = join(work, 'data-priv');
    await backup(dataDir, { target: as, repository });
    await server.query('INSERT INTO priv.p VALUES (1)');
    const failure = (p: Promise<unknown>) => p.then(() => new Error('the incremental was taken'), (e: unknown) => e as Error);
    const first = await failure(backup(dataDir, { target: as, repository, kind: 'incremental' }));
    expect(isDbBackupError(first, 'E_AUTH'), first.message).toBe(true);
    expect(first.message).toMatch(/BINLOG MONITOR/);
    await server.query("GRANT BINLOG MONITOR ON *.* TO 'backup'@'%'");
    const second = await failure(backup(dataDir, { target: as, repository, kind: 'incremental' }));
    expect(isDbBackupError(second, 'E_AUTH'), second.message).toBe(true);
    expect(second.message).toMatch(/REPLICATION SLAVE/);
    expect(second.message).not.toMatch(/pw-1/);
    await server.query("GRANT REPLICATION SLAVE ON *.* TO 'backup'@'%'");
    const ok = await backup(dataDir, { target: as, repository, kind: 'incremental' });
    expect(ok.manifest.engineInfo.changes).toBe(1);
  }, 120_000);

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
    expect((err as Error).message).toMatch(/purged.*full backup/s);
    // --auto-full: the chain starts over with a full.
    const fallback = await backup(dataDir, { target: src, repository, kind: 'incremental', autoFull: true });
    expect(fallback.manifest.kind).toBe('full');
  }, 120_000);
});
