import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenedRepository, RepositoryOpener } from '../../../src/application/ports/repository-opener.js';
import { LocalRepositoryOpener } from '../../../src/adapters/storage/repository-opener.js';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { backup, restore, target } from './harness.js';

/**
 * A binlog read that loses its connection mid-way (the server's dump thread is KILLed while a
 * writer keeps committing) resumes by itself from the last event it read: the incremental
 * completes, says it reconnected, and restores exactly a state the source had (every writer
 * transaction up to one boundary, none half). The kill happens while the first stored binlog part
 * is being written: the store holds that part's upload until the dump thread is gone.
 */
let server: MariaDbServer;
let work: string;

beforeAll(async () => {
  server = await startMariaDb();
  work = await mkdtemp(join(tmpdir(), 'dbb-binlog-kill-'));
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Opens local repositories whose store calls `gate` after the first chunk of the first binlog part's upload. */
function gatedOpener(gate: () => Promise<void>): RepositoryOpener {
  const inner = new LocalRepositoryOpener();
  let armed = true;
  return {
    async open(url, mode, options): Promise<OpenedRepository> {
      const repo = await inner.open(url, mode, options);
      const store = repo.store;
      const put = store.put.bind(store);
      store.put = (key, body, opts) => {
        if (!armed || !/changes\/000000\.binlog/.test(key)) return put(key, body, opts);
        armed = false;
        async function* held(): AsyncGenerator<Buffer> {
          let first = true;
          for await (const chunk of body) {
            yield chunk as Buffer;
            if (first) {
              first = false;
              await gate();
            }
          }
        }
        return put(key, Readable.from(held()), opts);
      };
      return repo;
    },
  };
}

/** Transactions of one insert and one counter update, until stopped: state k is rows 1..k and c.v = k. */
function startWriter(conn: mysql.Connection): { stop(): Promise<number>; committed(): number } {
  let stopped = false;
  let k = 0;
  const loop = (async () => {
    while (!stopped) {
      await conn.query('BEGIN');
      await conn.query('INSERT INTO w (payload) VALUES (?)', [`writer ${k + 1} ${'x'.repeat(k % 300)}`]);
      await conn.query('UPDATE c SET v = v + 1');
      await conn.query('COMMIT');
      k++;
    }
  })();
  return {
    committed: () => k,
    stop: async () => {
      stopped = true;
      await loop;
      return k;
    },
  };
}

async function killDumpThreads(): Promise<number> {
  const dumps = await server.query<{ Id: number }>("SELECT ID AS Id FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'");
  for (const d of dumps) await server.query(`KILL ${Number(d.Id)}`);
  while ((await server.query("SELECT 1 FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'")).length > 0) await new Promise((r) => setTimeout(r, 20));
  return dumps.length;
}

describe('MySQL binlog read on a dropped connection (MariaDB)', () => {
  it('resumes from the last event read when the dump thread is killed mid-read; the incremental restores exactly', async () => {
    await server.query(`CREATE DATABASE app; USE app;
      CREATE TABLE w (id INT AUTO_INCREMENT PRIMARY KEY, payload VARCHAR(400));
      CREATE TABLE c (v INT NOT NULL); INSERT INTO c VALUES (0);
      CREATE TABLE bulk (id INT PRIMARY KEY, a TEXT, b BIGINT);`);
    const conn = await server.connect('app');
    const dataDir = join(work, 'data');
    const repository = join(work, 'repo');
    const src = target(server, 'app');
    const writer = startWriter(conn);
    let killed = 0;
    try {
      await backup(dataDir, { target: src, repository });
      // More log after the full (~40 MB) than the reader buffers (16 MB) before it pauses the socket:
      // the server cannot have sent the whole range when the kill lands.
      for (let t = 0; t < 100; t++) {
        const rows = Array.from({ length: 100 }, (_, i) => `(${t * 100 + i}, REPEAT(MD5(${t * 100 + i}), 125), ${t * i})`).join(', ');
        await server.query(`INSERT INTO app.bulk VALUES ${rows}`);
      }
      const before = writer.committed();
      const inc = await backup(
        dataDir,
        { target: src, repository, kind: 'incremental', compression: { codec: 'none' } },
        gatedOpener(async () => {
          killed = await killDumpThreads();
          // The writer has done its job (commits during the full, the gap and the read): stopping it
          // here keeps the log the restore replays small, whatever the machine's speed.
          await writer.stop();
        }),
      );
      expect(killed).toBe(1);
      expect(inc.manifest.warnings.join('\n')).toMatch(/The binary log connection dropped 1 time\(s\) during the read; it was resumed/);
      await writer.stop();
      // The part written across the reconnect is still one valid binlog file (no repeated or missing event).
      const parts = join(repository, 'app', inc.manifest.id, 'changes');
      const first = (await readdir(parts)).filter((f) => f.endsWith('.binlog')).sort()[0]!;
      const printed = (await promisify(execFile)('mariadb-binlog', [join(parts, first)], { maxBuffer: 256 << 20 })).stdout;
      expect(printed).toMatch(/# End of log file/);

      await restore(dataDir, { target: target(server, 'app', { targetDatabase: 'copy', create: true }), repository });
      const [state] = await server.query<{ v: number; n: number; top: number | null }>('SELECT (SELECT v FROM copy.c) AS v, COUNT(*) AS n, MAX(id) AS top FROM copy.w');
      const k = Number(state!.v);
      expect(Number(state!.n)).toBe(k);
      expect(Number(state!.top ?? 0)).toBe(k);
      expect(k).toBeGreaterThanOrEqual(before);
      await server.query(`CREATE TABLE app.w_at_k LIKE app.w; INSERT INTO app.w_at_k SELECT * FROM app.w WHERE id <= ${k}`);
      const sum = async (table: string) => String((await server.query<{ Checksum: string }>(`CHECKSUM TABLE ${table} EXTENDED`))[0]!.Checksum);
      expect(await sum('copy.w')).toBe(await sum('app.w_at_k'));
      expect(await sum('copy.bulk')).toBe(await sum('app.bulk'));
      expect(Number((await server.query<{ n: number }>('SELECT COUNT(*) AS n FROM copy.bulk'))[0]!.n)).toBe(10_000);
    } finally {
      await writer.stop();
      await conn.end();
    }
  });
});
