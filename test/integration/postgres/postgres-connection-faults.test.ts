import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient, resolveEndpoint } from '../../../src/adapters/connectors/postgres/connection.js';
import { dumpDatabase } from '../../../src/adapters/connectors/postgres/postgres-dump.js';
import { lockWaitMs } from '../../../src/adapters/connectors/postgres/postgres-lock-wait.js';
import type { PartSink, PartSpec } from '../../../src/application/ports/parts.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import type { PartEntry } from '../../../src/domain/manifest.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { type TcpGate, startTcpGate } from '../../helpers/tcp-gate.js';
import { FIRST_ANSWER_FACTOR } from '../../../src/infrastructure/read-watchdog.js';

// The server ends a backup's connections (pg_terminate_backend, as an operator or a failover does)
// at exact points of the dump, found by conditions on the server, never by timers: every such dump
// fails with E_BACKUP_FAILED saying what happened, and leaves no connection of its own open (one
// left open kept the CLI alive after it had printed its error: the reliability suite's CI hang).

let server: PostgresServer;
const DB = 'faults';

beforeAll(async () => {
  server = await startPostgres();
  await server.query(`CREATE DATABASE ${DB}`);
  // Two tables of ~20 MB of COPY text each: more than the socket buffers hold, so a COPY nobody reads
  // blocks the server. The index: reading the catalog (pg_get_indexdef) waits for a locked table too.
  await server.query(
    `CREATE TABLE t AS SELECT i, repeat(md5(i::text), 6) AS pad FROM generate_series(1, 100000) i;
     CREATE TABLE u AS SELECT * FROM t; CREATE INDEX ON u (i);`,
    [],
    DB,
  );
});
afterAll(async () => {
  await server?.stop();
});

const endpointAt = (port: number) => resolveEndpoint({ engine: 'postgres', url: `postgres://postgres@127.0.0.1:${port}/${DB}?sslmode=disable` });
const request = { kind: 'full' as const, parallel: 2 };
const OPTIONS = { partSize: 256 << 20 };

/** Backends of dbbackup connections (application_name 'dbbackup') on the test database, with what they wait for. */
const ours = () =>
  server.query<{ pid: number; query: string; wait: string | null }>(
    "SELECT pid, query, wait_event AS wait FROM pg_stat_activity WHERE datname = $1 AND application_name = 'dbbackup' AND pid <> pg_backend_pid()",
    [DB],
  );

/** Polls `check` until it holds (at most ~30 s, then false): a condition, not a timing. */
async function until(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Ends every dbbackup connection to the test database and waits until the server has none. */
async function terminateOurs(): Promise<void> {
  await server.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'dbbackup' AND pid <> pg_backend_pid()", [DB]);
  expect(await until(async () => (await ours()).length === 0)).toBe(true);
}

const entry = (spec: PartSpec, rawSize: number): PartEntry => ({ name: spec.name, role: spec.role, codecs: [], rawSize, storedSize: rawSize, sha256: '0'.repeat(64) });

/** Reads a body to its end (or its error) and counts its bytes. */
async function drain(body: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of body) n += (chunk as Buffer).length;
  return n;
}

describe('PostgreSQL backup: connections the server ends', () => {
  let gate: TcpGate | undefined;
  afterAll(async () => {
    await gate?.stop();
  });

  it('a worker joining the snapshot after the server ended the leader: E_BACKUP_FAILED naming the snapshot, and no connection left open', async () => {
    // Connection 1 is the leader (it exports the snapshot); as connection 2 (a worker) opens, the
    // leader is ended, so its snapshot is gone when the worker imports it.
    gate = await startTcpGate({ port: server.port }, async (n) => {
      if (n === 2) await terminateOurs();
    });
    const sink: PartSink = { write: async (spec, body) => entry(spec, await drain(body)) };
    const failure = await dumpDatabase(endpointAt(gate.port), request, sink, new AbortController().signal, OPTIONS).then(
      () => undefined,
      (err: unknown) => err as { code?: string; message?: string },
    );
    expect(failure?.code).toBe('E_BACKUP_FAILED');
    expect(failure?.message).toMatch(/holds the backup's snapshot ended before another connection could join it/);
    // The worker's connection (the server never ended it) is closed too: nothing of ours stays.
    expect(await until(async () => (await ours()).length === 0)).toBe(true);
    expect(gate.opened).toBe(2);
  });

  it('COPY streams paused by backpressure (the server blocked writing to them) whose connections end: E_BACKUP_FAILED naming the table, once the sink reads on', async () => {
    // The sink reads no data part until both COPYs have filled every buffer and the server waits
    // to write (ClientWrite); then the server ends the connections, and only then the sink reads.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const bodies: Promise<number>[] = [];
    const sink: PartSink = {
      write: async (spec, body) => {
        if (spec.role !== 'data') return entry(spec, await drain(body));
        await released;
        const read = drain(body);
        bodies.push(read);
        return entry(spec, await read);
      },
    };
    const dump = dumpDatabase(endpointAt(server.port), request, sink, new AbortController().signal, OPTIONS).then(
      () => undefined,
      (err: unknown) => err as { code?: string; message?: string },
    );
    const blocked = await until(async () => (await ours()).filter((b) => /^COPY/.test(b.query) && b.wait === 'ClientWrite').length === 2);
    expect(blocked).toBe(true);
    await terminateOurs();
    release();
    const failure = await dump;
    expect(failure?.code).toBe('E_BACKUP_FAILED');
    expect(failure?.message).toMatch(/The connection to the PostgreSQL server ended while table public\.[tu] was read/);
    // The data parts' bodies ended in an error, not as if their tables were complete.
    for (const read of bodies) await expect(read).rejects.toThrow();
  });

  it('the first COPY that fails stops the other: its connection is closed, not read to its end', async () => {
    // Table t's part is not read at all (its COPY fills the buffers and waits); the sink then fails
    // table u's part. t's COPY must be aborted for that (the server shows it gone), and t's body
    // ends in an error. Without the abort it would wait for a reader forever.
    let failU!: () => void;
    const uMayFail = new Promise<void>((r) => (failU = r));
    let tGone: boolean | undefined;
    let tBody: Promise<number> | undefined;
    const copyOfT = (q: string) => /^COPY /.test(q) && /(^|[\s.])"?t"?[\s(]/.test(q.replace(/^COPY /, ' '));
    const sink: PartSink = {
      write: async (spec, body) => {
        if (spec.role !== 'data') return entry(spec, await drain(body));
        if (spec.object === 'public.u') {
          await uMayFail;
          body.destroy();
          throw new Error('the store for u failed');
        }
        expect(await until(async () => (await ours()).some((b) => copyOfT(b.query)))).toBe(true);
        failU();
        tGone = await until(async () => !(await ours()).some((b) => copyOfT(b.query)));
        tBody = drain(body);
        return entry(spec, await tBody);
      },
    };
    const failure = await dumpDatabase(endpointAt(server.port), request, sink, new AbortController().signal, OPTIONS).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(failure?.message).toBe('the store for u failed');
    expect(tGone).toBe(true);
    await expect(tBody).rejects.toThrow();
    expect(await until(async () => (await ours()).length === 0)).toBe(true);
  });
});

describe('PostgreSQL backup: a table another session holds locked', () => {
  it('fails E_LOCK_TIMEOUT after the lock wait limit, naming the table, the lock and the session; nothing of ours stays connected', async () => {
    const holder = await server.connect(DB);
    try {
      await holder.query("SET application_name = 'migration'; BEGIN; LOCK TABLE u IN ACCESS EXCLUSIVE MODE");
      const sink: PartSink = { write: async (spec, body) => entry(spec, await drain(body)) };
      const failure = await dumpDatabase(endpointAt(server.port), request, sink, new AbortController().signal, { ...OPTIONS, lockWaitMs: 300 }).then(
        () => undefined,
        (err: unknown) => err as { code?: string; message?: string },
      );
      expect(failure?.code).toBe('E_LOCK_TIMEOUT');
      expect(failure?.message).toMatch(
        /waited 300ms \(--lock-wait-timeout\) for a lock on table public\.u: another session holds it in ACCESS EXCLUSIVE mode \(pid \d+, user postgres, application migration, state idle in transaction\)/,
      );
      expect(await until(async () => (await ours()).length === 0)).toBe(true);
    } finally {
      await holder.end();
    }
  });

  it('reads --lock-wait-timeout as a duration; a bare number other than 0 is refused', () => {
    expect([lockWaitMs(undefined), lockWaitMs('30s'), lockWaitMs('500ms'), lockWaitMs('5m'), lockWaitMs('1h'), lockWaitMs('0')]).toEqual([60_000, 30_000, 500, 300_000, 3_600_000, 0]);
    expect(() => lockWaitMs('30')).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => lockWaitMs('soon')).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });
});

// The idle-read timeout (--io-timeout) on a real server's connections, reading pg's own state: a
// query waiting through a silent network fails E_NETWORK_TIMEOUT naming host:port and the query; a
// statement the server works on silently (here pg_sleep, as an index build) and an idle connection
// are left alone however long they are silent.

const ioEndpoint = (port: number, ioTimeout: string) => resolveEndpoint({ engine: 'postgres', url: `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`, options: { ioTimeout } });

describe('PostgreSQL --io-timeout', () => {
  it('fails a query whose network went silent with E_NETWORK_TIMEOUT naming host:port and the query', async () => {
    const gate = await startTcpGate({ port: server.port });
    try {
      const client = await openClient(ioEndpoint(gate.port, '500ms'));
      gate.blackhole();
      const err = await client.query('SELECT count(*) FROM pg_class').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isDbBackupError(err, 'E_NETWORK_TIMEOUT'), String(err)).toBe(true);
      expect((err as Error).message).toContain(`PostgreSQL server at 127.0.0.1:${gate.port} passed no byte for ${(500 * FIRST_ANSWER_FACTOR) / 1000} s (--io-timeout) while a query waited for its answer (SELECT count(*) FROM pg_class)`);
      await client.end().catch(() => undefined);
    } finally {
      await gate.stop();
    }
  });

  it('leaves a silent statement the server works on, and an idle connection, alone', async () => {
    const client = await openClient(ioEndpoint(server.port, '300ms'));
    try {
      await client.query('SELECT pg_sleep(1.5)');
      await new Promise((r) => setTimeout(r, 1000));
      expect((await client.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });
    } finally {
      await client.end();
    }
  });
});

describe('PostgreSQL sslmode=prefer on a server without TLS', () => {
  it('asks for TLS once: the next connection to that server goes in plain text at once', async () => {
    const gate = await startTcpGate({ port: server.port });
    const e = resolveEndpoint({ engine: 'postgres', url: `postgres://postgres@127.0.0.1:${gate.port}/postgres?sslmode=prefer` });
    const clients = [];
    try {
      clients.push(await openClient(e));
      // The refused TLS request, then the plain connection.
      expect(gate.opened).toBe(2);
      clients.push(await openClient(e));
      expect(gate.opened).toBe(3);
      for (const c of clients) expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      for (const c of clients) await c.end().catch(() => undefined);
      await gate.stop();
    }
  });
});

describe('PostgreSQL backup: part writes that end after their bytes were read', () => {
  it('frees the connection for the next table while a part is made durable (fsync, rename); the dump ends after every write', async () => {
    // One connection, two tables: the first table's write, its bytes all read, holds on (as an
    // fsync on a busy disk does) until the second table's part was read. Waiting for the write
    // before the next COPY would never get there (the test times out instead).
    let secondRead!: () => void;
    const second = new Promise<void>((r) => (secondRead = r));
    const order: string[] = [];
    let first: string | undefined;
    const sink: PartSink = {
      write: async (spec, body) => {
        if (spec.role !== 'data') return entry(spec, await drain(body));
        const n = await drain(body);
        if (first === undefined) {
          first = spec.object;
          await second;
          order.push(`${spec.object} written`);
        } else {
          order.push(`${spec.object} read`);
          secondRead();
        }
        return entry(spec, n);
      },
    };
    const result = await dumpDatabase(endpointAt(server.port), { kind: 'full', parallel: 1 }, sink, new AbortController().signal, OPTIONS);
    const other = first === 'public.t' ? 'public.u' : 'public.t';
    expect(order).toEqual([`${other} read`, `${first} written`]);
    expect(result.objects.map((o) => [o.name, o.rows])).toEqual(
      expect.arrayContaining([
        ['public.t', 100000],
        ['public.u', 100000],
      ]),
    );
    expect(await until(async () => (await ours()).length === 0)).toBe(true);
  });
});
