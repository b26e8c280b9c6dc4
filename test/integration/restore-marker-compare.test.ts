// A PostgreSQL or MariaDB restore that stops after its first change (here: a data part that fails
// mid-stream, as a killed or broken restore would) leaves the incomplete-restore mark in the target;
// the next restore refuses the target without --clean naming the unfinished restore, --dry-run
// warns, doctor's check fails; a restore with --clean makes it whole and removes the mark. A
// restore that finishes leaves no mark. And `compare` (CompareDatabases) of the source and a restored
// copy: the same, then one changed value, a NULL for an empty string, a dropped table. Against real servers.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MapCodecRegistry } from '../../src/adapters/compression/codec-registry.js';
import { NoneCodec } from '../../src/adapters/compression/none-codec.js';
import { MapConnectorRegistry } from '../../src/adapters/connectors/connector-registry.js';
import { MysqlConnector } from '../../src/adapters/connectors/mysql/mysql-connector.js';
import { PostgresConnector } from '../../src/adapters/connectors/postgres/postgres-connector.js';
import { LocalRepositoryOpener } from '../../src/adapters/storage/repository-opener.js';
import { PartReader } from '../../src/application/pipeline/part-reader.js';
import type { ConnectionTarget } from '../../src/application/ports/connection-target.js';
import type { DatabaseConnector } from '../../src/application/ports/database-connector.js';
import { diagnosisOf } from '../../src/application/ports/database-diagnosis.js';
import type { PartSource } from '../../src/application/ports/parts.js';
import { CompareDatabases } from '../../src/application/use-cases/compare-databases.js';
import { RestoreBackup } from '../../src/application/use-cases/restore-backup.js';
import { VerifyRestore } from '../../src/application/use-cases/verify-restore.js';
import { readFile, writeFile } from 'node:fs/promises';
import { RunBackup } from '../../src/application/use-cases/run-backup.js';
import type { Manifest } from '../../src/domain/manifest.js';
import { NullProgress } from '../../src/infrastructure/progress.js';
import { MemoryCatalog, silentLogger } from '../helpers/fakes.js';
import { type MariaDbServer, startMariaDb } from '../helpers/mariadb-server.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres-server.js';
import { startTcpGate } from '../helpers/tcp-gate.js';

const signal = new AbortController().signal;
const codecs = new MapCodecRegistry([new NoneCodec()]);

interface Engine {
  name: 'postgres' | 'mysql';
  connector: DatabaseConnector;
  start(): Promise<PostgresServer | MariaDbServer>;
  /** Makes the database `app` with a table `t` of 2000 rows. */
  seed(s: PostgresServer | MariaDbServer): Promise<void>;
  target(s: PostgresServer | MariaDbServer, db: string): ConnectionTarget;
  /** Runs SQL in `db`. */
  exec(s: PostgresServer | MariaDbServer, db: string, sql: string): Promise<unknown>;
  /** The mark's backup id in `db`, or undefined. */
  mark(s: PostgresServer | MariaDbServer, db: string): Promise<string | undefined>;
  rows(s: PostgresServer | MariaDbServer, db: string): Promise<number>;
}

const engines: Engine[] = [
  {
    name: 'postgres',
    connector: new PostgresConnector(),
    start: () => startPostgres(),
    async seed(s) {
      await s.query('CREATE DATABASE app');
      await (s as PostgresServer).query('CREATE TABLE t (i int PRIMARY KEY, v text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 2000) i', [], 'app');
      // Values whose text form a hash could get wrong: the recorded hash must equal the restored copy's.
      await (s as PostgresServer).query(
        `CREATE TABLE kinds (id int, n numeric, f float8, r real, ts timestamptz, b bytea, j jsonb, a text[], tx text, g int GENERATED ALWAYS AS (id * 2) STORED);
         INSERT INTO kinds (id, n, f, r, ts, b, j, a, tx) VALUES
           (1, 12345678901234567890.123456789, 'NaN', '-Infinity', '2026-12-07 10:00:00.123456+05:30', '\\x00ff0a', '{"b": [1, 2], "a": "x"}', ARRAY['a', NULL, 'c,d'], E'tab\there\nnew line \\ back'),
           (2, NULL, 0.1, 1.5, NULL, '', 'null', '{}', ''),
           (3, -0.0, -0, 3.4e38, '1970-01-01 00:00:00+00', NULL, NULL, NULL, NULL)`,
        [],
        'app',
      );
    },
    target: (s, db) => ({ engine: 'postgres', host: '127.0.0.1', port: s.port, user: 'postgres', database: db, options: {} }),
    exec: (s, db, sql) => (s as PostgresServer).query(sql, [], db),
    async mark(s, db) {
      const [found] = await (s as PostgresServer).query<{ r: string | null }>("SELECT to_regclass('dbbackup_restore.incomplete')::text AS r", [], db);
      if (!found!.r) return undefined;
      return (await (s as PostgresServer).query<{ backup_id: string }>('SELECT backup_id FROM dbbackup_restore.incomplete', [], db))[0]?.backup_id ?? '';
    },
    rows: async (s, db) => (await (s as PostgresServer).query<{ n: number }>('SELECT count(*)::int AS n FROM t', [], db))[0]!.n,
  },
  {
    name: 'mysql',
    connector: new MysqlConnector(),
    start: () => startMariaDb(),
    async seed(s) {
      await s.query('CREATE DATABASE app');
      await s.query('CREATE TABLE app.t (i INT PRIMARY KEY, v CHAR(32)) SELECT seq AS i, md5(seq) AS v FROM app.seq_1_to_2000');
      await s.query(
        `CREATE TABLE app.kinds (id INT PRIMARY KEY, f FLOAT, d DOUBLE, dc DECIMAL(30, 10), dt DATETIME(6), ts TIMESTAMP(3) NULL, b BLOB, j JSON, bits BIT(5), e ENUM('a', 'b'), tx TEXT, g INT AS (id * 2) VIRTUAL)`,
      );
      await s.query(
        `INSERT INTO app.kinds (id, f, d, dc, dt, ts, b, j, bits, e, tx) VALUES
           (1, 0.1, 1e308, 12345678901234567890.0123456789, '2026-12-07 10:00:00.123456', '2026-12-07 10:00:00.123', x'00ff0a5c09', '{"b": [1, 2], "a": "x"}', b'10101', 'b', 'tab\there\nnew line \\ back'),
           (2, NULL, -0, NULL, NULL, NULL, '', 'null', b'0', 'a', ''),
           (3, 3.4e38, 2.5, -0.5, '1000-01-01 00:00:00', NULL, NULL, NULL, NULL, NULL, NULL)`,
      );
    },
    target: (s, db) => ({ engine: 'mysql', host: '127.0.0.1', port: s.port, user: 'root', database: db, options: {} }),
    exec: (s, db, sql) => s.query(sql.replace(/\bt\b/g, `\`${db}\`.t`)),
    async mark(s, db) {
      const found = await s.query('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [db, 'dbbackup_restore_incomplete']);
      if (!found.length) return undefined;
      return (await s.query<{ backup_id: string }>(`SELECT backup_id FROM \`${db}\`.dbbackup_restore_incomplete`))[0]?.backup_id ?? '';
    },
    rows: async (s, db) => Number((await s.query<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${db}\`.t`))[0]!.n),
  },
];

/** The backup's parts, except that every data part fails after its first bytes. */
function failingData(reader: PartReader): PartSource {
  return {
    manifest: reader.manifest,
    async open(part) {
      if (part.role !== 'data') return reader.open(part);
      const real = await reader.open(part);
      real.destroy();
      return Readable.from(
        (async function* () {
          yield Buffer.from('');
          throw new Error('the data stream broke (as a killed or failing restore)');
        })(),
      );
    },
  };
}

describe.each(engines)('$name: the incomplete-restore mark', (engine) => {
  let server: PostgresServer | MariaDbServer;
  let work: string;
  let manifest: Manifest;
  const repository = () => join(work, 'repo');
  const useCases = () => {
    const deps = {
      connectors: new MapConnectorRegistry([engine.connector]),
      opener: new LocalRepositoryOpener(),
      codecs,
      catalog: new MemoryCatalog(),
      clock: { now: () => new Date() },
      logger: silentLogger,
      progress: new NullProgress(),
    };
    const restoreBackup = new RestoreBackup(deps);
    return { runBackup: new RunBackup({ ...deps, toolVersion: 'test' }), restoreBackup, verifyRestore: new VerifyRestore({ ...deps, restoreBackup }) };
  };
  const scratchDatabases = async () =>
    engine.name === 'postgres'
      ? (await (server as PostgresServer).query<{ d: string }>("SELECT datname AS d FROM pg_database WHERE datname LIKE 'dbbackup_verify_%'")).map((r) => r.d)
      : (await server.query<{ d: string }>("SELECT SCHEMA_NAME AS d FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'dbbackup_verify_%'")).map((r) => r.d);

  beforeAll(async () => {
    server = await engine.start();
    work = await mkdtemp(join(tmpdir(), 'dbb-mark-'));
    await engine.seed(server);
    manifest = (await useCases().runBackup.execute({ target: engine.target(server, 'app'), repository: repository(), kind: 'full', compression: { codec: 'none' }, parallel: 1 }, signal)).manifest;
  });
  afterAll(async () => {
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const restoreInput = (clean: boolean, dryRun = false) => ({
    repository: repository(),
    backup: manifest.id,
    target: engine.target(server, 'copy'),
    clean,
    dryRun,
    options: { create: true },
  });

  it('a restore that stops after its first change leaves the mark; the next is refused without --clean, warned in --dry-run, failed by doctor; --clean clears it', async () => {
    const opened = await new LocalRepositoryOpener().open(repository(), 'read');
    try {
      const session = await engine.connector.connect(engine.target(server, 'copy'), 'restore');
      try {
        await session.planRestore(manifest, { clean: false, create: true });
        const reader = new PartReader(opened.store, manifest, codecs, undefined, undefined, 'when-needed');
        // The stream's own error, not a connection the server dropped after waiting for the rest of the data.
        await expect(session.restore(failingData(reader), { clean: false, create: true }, signal)).rejects.toThrow(/the data stream broke/);
      } finally {
        await session.close();
      }
    } finally {
      await opened.close();
    }
    expect(await engine.mark(server, 'copy')).toBe(manifest.id);

    const refused = useCases().restoreBackup.execute(restoreInput(false), signal);
    await expect(refused).rejects.toMatchObject({ code: 'E_TARGET_EXISTS', message: expect.stringMatching(new RegExp(`holds an incomplete restore: a restore of backup ${manifest.id} \\(source [^)]+\\) started .+ and did not finish`)) });
    const dry = await useCases().restoreBackup.execute(restoreInput(false, true), signal);
    expect(dry.plan.warnings.join('\n')).toMatch(/holds an incomplete restore .*will refuse to run without --clean/);

    const doctor = diagnosisOf(engine.connector)!;
    const findings = await doctor.diagnose(engine.target(server, 'copy'), { subject: 'source copy', incremental: false }, signal);
    expect(findings.find((f) => f.check === 'incomplete-restore')).toMatchObject({ status: 'fail', message: expect.stringContaining(manifest.id) });

    await useCases().restoreBackup.execute(restoreInput(true), signal);
    expect(await engine.mark(server, 'copy')).toBeUndefined();
    expect(await engine.rows(server, 'copy')).toBe(2000);
    const healthy = await doctor.diagnose(engine.target(server, 'copy'), { subject: 'source copy', incremental: false }, signal);
    expect(healthy.find((f) => f.check === 'incomplete-restore')).toMatchObject({ status: 'ok' });
  });

  if (engine.name === 'mysql') {
    /** Runs a restore into `db` from the backup's parts as `source` hands them out. */
    const restoreWith = async (db: string, source: (reader: PartReader) => PartSource, options: Record<string, unknown> = {}, port = server.port) => {
      const opened = await new LocalRepositoryOpener().open(repository(), 'read');
      try {
        const to = { ...engine.target(server, db), port, options };
        const session = await engine.connector.connect(to, 'restore');
        await session.planRestore(manifest, { clean: true, create: true });
        return await session.restore(source(new PartReader(opened.store, manifest, codecs, undefined, undefined, 'when-needed')), { clean: true, create: true }, signal);
      } finally {
        await opened.close();
      }
    };

    it('MariaDB: the server ending one connection of a restore (an idle one, while the others load data that never ends) fails the whole restore at once, and leaves the mark', async () => {
      // The loads wait for the rest of their data as long as the server lets them: only the restore
      // noticing its lost connection can end them (it once went on loading on the others).
      const [{ t: before }] = await server.query<{ t: number }>('SELECT @@GLOBAL.net_read_timeout AS t');
      await server.query('SET GLOBAL net_read_timeout = 3600');
      let killed: Promise<unknown> | undefined;
      const stalled = (reader: PartReader): PartSource => ({
        manifest: reader.manifest,
        async open(part) {
          if (part.role !== 'data') return reader.open(part);
          // The restore's first connection (it runs the DDL and sits idle while the others load) is ended by the server.
          killed ??= server.query("SELECT MIN(ID) AS id FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER = 'root' AND COMMAND <> 'Daemon'").then(([row]) =>
            server.query(`KILL ${Number((row as { id: number }).id)}`),
          );
          await killed;
          const real = await reader.open(part);
          const body = new Readable({ read: () => real.resume() });
          real.on('data', (chunk: Buffer) => body.push(chunk) || real.pause());
          return body; // never ends
        },
      });
      try {
        await expect(restoreWith('lost', stalled)).rejects.toMatchObject({ code: 'E_RESTORE_FAILED', message: expect.stringMatching(/^The restore lost its connection to MySQL at root@127\.0\.0\.1:\d+ \(the server restarted or ended the session; .*\); the target is marked as not completely restored: restore again with --clean once the server is back\.$/) });
      } finally {
        await server.query(`SET GLOBAL net_read_timeout = ${Number(before)}`);
      }
      expect(await engine.mark(server, 'lost')).toBe(manifest.id);
      expect(await engine.rows(server, 'lost')).toBe(0);
    });

    it('MariaDB: the server ending the restore\'s first connection just as its loading connections open fails the restore E_RESTORE_FAILED naming the lost connection, sends no statement on a connection opened after, and leaves the target untouched or marked', async () => {
      // Through a gate: once the restore read its schema (its first connection, the last opened then,
      // marks the target and runs the DDL next), the first connection opened after that (the loading
      // pool's first) waits at the gate until the first connection is ended.
      let first = 0;
      let cutAt = 0;
      const gate = await startTcpGate({ port: server.port }, (n) => {
        if (!first || cutAt) return;
        cutAt = n;
        gate.cut(first);
      });
      const watched = (reader: PartReader): PartSource => ({
        manifest: reader.manifest,
        async open(part) {
          if (part.role === 'schema') first ||= gate.opened;
          return reader.open(part);
        },
      });
      try {
        await expect(restoreWith('cut', watched, {}, gate.port)).rejects.toMatchObject({
          code: 'E_RESTORE_FAILED',
          message: expect.stringMatching(/^The restore lost its connection to MySQL at root@127\.0\.0\.1:\d+ \(the server restarted or ended the session; .*\); the target is marked as not completely restored: restore again with --clean once the server is back\.$/),
        });
        expect(cutAt).toBe(first + 1);
        // The first connection ran statements (COM_QUERY); none opened after it lost its server sent any command but
        // COM_QUIT and its session's SET (the pool logs in and sets up its sessions while the restore's first connection
        // works: one whose login ends just as the loss happens may set up its session before the loss is seen — that
        // changes nothing on the target; a statement that does, or any later one, would show here).
        expect(commandsSent(gate.sent(first)).map((c) => c.command)).toContain(COM_QUERY);
        for (let n = cutAt; n <= gate.opened; n++) {
          const sent = commandsSent(gate.sent(n)).filter((c) => c.command !== COM_QUIT && !(c.command === COM_QUERY && /^SET /i.test(c.sql)));
          expect(sent, `connection ${n}`).toEqual([]);
        }
      } finally {
        await gate.stop();
      }
      // The loss came while the pool logged in: before the mark (no table made: at most the empty database the mark
      // goes into) or after it (the target marked, no row loaded) — whichever came first.
      const mark = await engine.mark(server, 'cut');
      if (mark === undefined) expect(await server.query('SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', ['cut'])).toEqual([]);
      else {
        expect(mark).toBe(manifest.id);
        expect(await engine.rows(server, 'cut')).toBe(0);
      }
    });

    it('MariaDB: a restore --clean whose DROP waits on another session\'s transaction fails E_LOCK_TIMEOUT after --lock-wait-timeout, and leaves the mark', async () => {
      await useCases().restoreBackup.execute({ ...restoreInput(false), target: engine.target(server, 'held') }, signal);
      const reader = await (server as MariaDbServer).connect();
      try {
        await reader.query('START TRANSACTION');
        await reader.query('SELECT COUNT(*) FROM held.t');
        const waited = restoreWith('held', (r) => r, { lockWaitTimeout: '1s' });
        await expect(waited).rejects.toMatchObject({ code: 'E_LOCK_TIMEOUT', message: expect.stringMatching(/^The restore into root@127\.0\.0\.1:\d+ waited 1s \(--lock-wait-timeout\) for a lock on .*restore again with --clean\.$/) });
      } finally {
        await reader.end();
      }
      expect(await engine.mark(server, 'held')).toBe(manifest.id);
    });

    it('MariaDB: a restore whose LOAD DATA waits on another transaction\'s row lock (an uncommitted row of the same key) fails E_LOCK_TIMEOUT naming innodb_lock_wait_timeout, not --lock-wait-timeout, and leaves the mark (with and without metadata_lock_info)', async () => {
      const [{ w: before }] = await server.query<{ w: number }>('SELECT @@GLOBAL.innodb_lock_wait_timeout AS w');
      await server.query('SET GLOBAL innodb_lock_wait_timeout = 1');
      try {
        // With the plugin, the lookup sees the writer's own metadata lock (MDL_SHARED_WRITE): one that blocks no row write.
        for (const plugin of [false, true]) {
          if (plugin) await server.query("INSTALL SONAME 'metadata_lock_info'");
          const writer = await (server as MariaDbServer).connect();
          let held: Promise<unknown> | undefined;
          // Once the restore created rowlock.t and is about to load it, another transaction writes (and holds) the row with key 1.
          const contended = (reader: PartReader): PartSource => ({
            manifest: reader.manifest,
            async open(part) {
              if (part.role === 'data' && part.object === 'app.t') {
                held ??= writer.query('START TRANSACTION').then(() => writer.query("INSERT INTO rowlock.t (i, v) VALUES (1, 'held')"));
                await held;
              }
              return reader.open(part);
            },
          });
          try {
            const waited = restoreWith('rowlock', contended, { lockWaitTimeout: '1h' });
            await expect(waited, `metadata_lock_info ${plugin}`).rejects.toMatchObject({
              code: 'E_LOCK_TIMEOUT',
              message: expect.stringMatching(/^The restore into root@127\.0\.0\.1:\d+ waited 1 s \(innodb_lock_wait_timeout\) for a row lock on table rowlock\.t: another transaction holds a lock on a row it writes .*raise the server's innodb_lock_wait_timeout .*then restore again with --clean\.$/),
              details: { table: 'rowlock.t', lock: 'row', innodbLockWaitTimeout: 1 },
            });
            expect(held).toBeDefined();
          } finally {
            await writer.end();
          }
          expect(await engine.mark(server, 'rowlock')).toBe(manifest.id);
        }
      } finally {
        await server.query("UNINSTALL SONAME 'metadata_lock_info'").catch(() => undefined);
        await server.query(`SET GLOBAL innodb_lock_wait_timeout = ${Number(before)}`);
      }
    });
  }

  it('a restore that finishes leaves no mark, and the mark is no object the emptiness check counts', async () => {
    await useCases().restoreBackup.execute({ ...restoreInput(false), target: engine.target(server, 'fresh') }, signal);
    expect(await engine.mark(server, 'fresh')).toBeUndefined();
    expect(await engine.rows(server, 'fresh')).toBe(2000);
  });

  it('compare: the source and its restored copy are the same; a changed value, NULL for an empty string, or a missing table differ', async () => {
    const compare = new CompareDatabases({ connectors: new MapConnectorRegistry([engine.connector]) });
    const run = () => compare.execute({ left: engine.target(server, 'app'), right: engine.target(server, 'fresh') }, signal);
    const same = await run();
    expect(same.same).toBe(true);
    const t = engine.name === 'postgres' ? 'public.t' : 't';
    const kinds = engine.name === 'postgres' ? 'public.kinds' : 'kinds';
    expect(same.tables).toEqual([
      { table: kinds, left: { rows: 3, hash: expect.stringMatching(/^[0-9a-f]{16}$/) }, right: same.tables[0]!.left, same: true },
      { table: t, left: { rows: 2000, hash: expect.stringMatching(/^[0-9a-f]{16}$/) }, right: same.tables[1]!.left, same: true },
    ]);

    await engine.exec(server, 'fresh', "UPDATE t SET v = '' WHERE i = 7");
    await engine.exec(server, 'app', "UPDATE t SET v = NULL WHERE i = 7");
    const nullVsEmpty = await run();
    expect(nullVsEmpty.same).toBe(false);
    expect(nullVsEmpty.tables[1]).toMatchObject({ table: t, left: { rows: 2000 }, right: { rows: 2000 }, same: false });
    await engine.exec(server, 'app', "UPDATE t SET v = '' WHERE i = 7");
    expect((await run()).same).toBe(true);

    // Only the chosen tables; a table on one side only differs.
    await engine.exec(server, 'app', engine.name === 'postgres' ? 'CREATE TABLE extra (x int)' : 'CREATE TABLE `app`.extra (x INT)');
    const extra = await run();
    expect(extra.same).toBe(false);
    expect(extra.tables.find((x) => x.table.endsWith('extra'))).toMatchObject({ left: { rows: 0 }, same: false });
    expect(extra.tables.find((x) => x.table.endsWith('extra'))!.right).toBeUndefined();
    expect((await compare.execute({ left: engine.target(server, 'app'), right: engine.target(server, 'fresh'), tables: ['t'] }, signal)).same).toBe(true);
    await expect(compare.execute({ left: engine.target(server, 'app'), right: engine.target(server, 'fresh'), tables: ['nope'] }, signal)).rejects.toMatchObject({ code: 'E_USAGE' });
  });

  it('verify --deep: restores into a scratch database on the named server, checks every table against the recorded counts and content hashes, drops it', async () => {
    const { port } = server;
    const scratch = { host: '127.0.0.1', port, user: engine.name === 'postgres' ? 'postgres' : 'root' };
    const ok = await useCases().verifyRestore.execute({ repository: repository(), manifest, scratch }, signal);
    const name = (table: string) => (engine.name === 'postgres' ? `public.${table}` : `app.${table}`);
    const hashed = (rows: number) => ({ expectedRows: rows, rows, expectedHash: expect.stringMatching(/^[0-9a-f]{16}$/), hash: expect.any(String), ok: true });
    expect(ok.tables.map((x) => ({ ...x }))).toEqual([{ table: name('kinds'), ...hashed(3) }, { table: name('t'), ...hashed(2000) }].sort((a, b) => (a.table < b.table ? -1 : 1)));
    // The hash the backup recorded while dumping is the one read back from the restored copy.
    for (const x of ok.tables) expect(x.hash).toBe(x.expectedHash);
    expect(new Set(ok.tables.map((x) => x.hash)).size).toBe(2);
    expect(await scratchDatabases()).toEqual([]);

    // A value changed in the restored copy, same row count: the contents differ (exit 4), the table named.
    const real = useCases();
    const altering = {
      execute: async (input: Parameters<RestoreBackup['execute']>[0], sig: AbortSignal) => {
        const r = await real.restoreBackup.execute(input, sig);
        await engine.exec(server, input.target.database!, "UPDATE t SET v = 'changed' WHERE i = 5");
        return r;
      },
    } as unknown as RestoreBackup;
    const altered = new VerifyRestore({ connectors: new MapConnectorRegistry([engine.connector]), restoreBackup: altering, logger: silentLogger });
    await expect(altered.execute({ repository: repository(), manifest, scratch }, signal)).rejects.toMatchObject({
      code: 'E_DIFFERENT',
      message: expect.stringMatching(new RegExp(`: ${name('t').replace('.', '\\.')} holds other contents \\(hash [0-9a-f]{16}, the backup recorded [0-9a-f]{16}\\)\\.$`)),
    });
    expect(await scratchDatabases()).toEqual([]);

    // A backup that recorded another count, or a hash of other contents (its manifest edited: parts intact), fails; the scratch still goes.
    const path = join(repository(), manifest.source, manifest.id, 'manifest.json');
    const original = await readFile(path, 'utf8');
    try {
      const edited = JSON.parse(original) as Manifest;
      edited.objects.find((o) => o.name === name('t'))!.rows = 1999;
      await writeFile(path, JSON.stringify(edited));
      await expect(useCases().verifyRestore.execute({ repository: repository(), manifest: edited, scratch }, signal)).rejects.toMatchObject({
        code: 'E_DIFFERENT',
        message: expect.stringMatching(/t has 2000 rows, not 1999/),
      });
      // A recorded hash of other contents fails naming that table; a table with no recorded hash (an older backup) is checked by its count.
      const otherHash = JSON.parse(original) as Manifest;
      const entry = (table: string) => otherHash.objects.find((o) => o.name === name(table))!;
      entry('kinds').contentHash = entry('t').contentHash;
      delete entry('t').contentHash;
      await writeFile(path, JSON.stringify(otherHash));
      const failed = await useCases().verifyRestore.execute({ repository: repository(), manifest: otherHash, scratch }, signal).catch((err: unknown) => err);
      expect(failed).toMatchObject({ code: 'E_DIFFERENT', message: expect.stringMatching(new RegExp(`: ${name('kinds').replace('.', '\\.')} holds other contents \\([^)]*\\)\\.$`)) });
      expect((failed as { details: { tables: { table: string }[] } }).details.tables.map((x) => x.table)).toEqual([name('kinds')]);
    } finally {
      await writeFile(path, original);
    }
    expect(await scratchDatabases()).toEqual([]);
    // A server engine needs --scratch.
    await expect(useCases().verifyRestore.execute({ repository: repository(), manifest }, signal)).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/--scratch URL/) });
  });
});

const COM_QUIT = 0x01;
const COM_QUERY = 0x03;

/** The commands a MySQL client sent (each packet's first payload byte, and a query's text) after its login: the packets with sequence id 0. */
function commandsSent(bytes: Buffer): { command: number; sql: string }[] {
  const commands: { command: number; sql: string }[] = [];
  for (let at = 0; at + 4 < bytes.length; at += 4 + bytes.readUIntLE(at, 3)) {
    const length = bytes.readUIntLE(at, 3);
    if (bytes[at + 3] === 0) commands.push({ command: bytes[at + 4]!, sql: bytes.subarray(at + 5, at + 4 + length).toString('utf8') });
  }
  return commands;
}
