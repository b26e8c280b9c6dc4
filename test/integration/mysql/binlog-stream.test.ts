import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binlogEvents, prepareDumpSession } from '../../../src/adapters/connectors/mysql/mysql-binlog-stream.js';
import { closeConnection, destroyConnection, openConnection, resolveEndpoint } from '../../../src/adapters/connectors/mysql/mysql-connection.js';
import { EventType, readHeader } from '../../../src/adapters/connectors/mysql/mysql-binlog-events.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { startTcpGate } from '../../helpers/tcp-gate.js';
import { target } from './harness.js';
import { FIRST_ANSWER_FACTOR } from '../../../src/infrastructure/read-watchdog.js';

/** The COM_BINLOG_DUMP stream itself: heartbeats keep an idle stream alive, and their absence is an error. */
let server: MariaDbServer;

beforeAll(async () => {
  server = await startMariaDb();
});
afterAll(async () => {
  await server?.stop();
});

describe('binlog dump stream (MariaDB)', () => {
  it('opens with the fake ROTATE and a FORMAT_DESCRIPTION, stays alive on heartbeats when idle, and fails when the server stops answering', async () => {
    await server.query('CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY); INSERT INTO s.t VALUES (1)');
    const [status] = await server.query<{ File: string }>('SHOW MASTER STATUS');
    const conn = await openConnection(resolveEndpoint(target(server)));
    await prepareDumpSession(conn, true, 0.25);
    const events = binlogEvents(conn, { file: status!.File, position: 4, mariadb: true, stallSeconds: 4 }, new AbortController().signal);
    const first = [(await events.next()).value!, (await events.next()).value!];
    expect(first.map((e) => readHeader(e).type)).toEqual([EventType.ROTATE, EventType.FORMAT_DESCRIPTION]);
    // Read to the end of what is there, then idle: heartbeats (every 0.25 s) keep the 4 s watchdog quiet (without them it would fire).
    const idle = (async () => {
      for (;;) await events.next();
    })();
    let settled = false;
    idle.catch(() => undefined).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 5000));
    expect(settled).toBe(false);
    // A stopped server sends nothing: the stream fails instead of waiting forever.
    const pid = Number((await readFile(join(server.dir, 'pid'), 'utf8')).trim());
    process.kill(pid, 'SIGSTOP');
    try {
      const err = await idle.then(() => new Error('the stream ended'), (e: unknown) => e);
      expect(isDbBackupError(err, 'E_BACKUP_FAILED'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/no binary log event nor heartbeat/);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }, 60_000);
});

// The idle-read timeout (--io-timeout) on a real MariaDB's connections, reading mysql2's own state:
// a query waiting through a silent network fails E_NETWORK_TIMEOUT naming host:port and the query; a
// login into silence too; a statement the server works on silently (SLEEP, as an ALTER TABLE) and an
// idle connection are left alone.

const ioEndpoint = (port: number, ioTimeout: string) => resolveEndpoint({ engine: 'mysql', host: '127.0.0.1', port, user: 'root', options: { ioTimeout } });

describe('MySQL --io-timeout', () => {
  it('fails a query, and a login, whose network went silent with E_NETWORK_TIMEOUT naming host:port', async () => {
    const gate = await startTcpGate({ port: server.port });
    try {
      const conn = await openConnection(ioEndpoint(gate.port, '500ms'));
      gate.blackhole();
      const err = await conn.query('SELECT COUNT(*) FROM information_schema.TABLES').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isDbBackupError(err, 'E_NETWORK_TIMEOUT'), String(err)).toBe(true);
      expect((err as Error).message).toContain(`MySQL server at 127.0.0.1:${gate.port} passed no byte for ${(500 * FIRST_ANSWER_FACTOR) / 1000} s (--io-timeout) while a query waited for its answer (SELECT COUNT(*) FROM information_schema.TABLES)`);
      destroyConnection(conn);
      const login = await openConnection(ioEndpoint(gate.port, '500ms')).then(
        (c) => (destroyConnection(c), undefined),
        (e: unknown) => e,
      );
      expect(isDbBackupError(login, 'E_NETWORK_TIMEOUT'), String(login)).toBe(true);
      expect((login as Error).message).toContain('while connecting');
    } finally {
      await gate.stop();
    }
  });

  it('leaves a silent statement the server works on, and an idle connection, alone', async () => {
    const conn = await openConnection(ioEndpoint(server.port, '300ms'));
    try {
      await conn.query('SELECT SLEEP(1.5)');
      await new Promise((r) => setTimeout(r, 1000));
      const [rows] = await conn.query('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await closeConnection(conn);
    }
  });
});
