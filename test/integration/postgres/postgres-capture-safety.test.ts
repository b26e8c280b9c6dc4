import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresConnector } from '../../../src/adapters/connectors/postgres/postgres-connector.js';
import { FilePendingSlots } from '../../../src/adapters/locks/file-pending-slots.js';
import { repositoryDigest } from '../../../src/application/services/left-capture-slots.js';
import { BIN, runCli } from '../../helpers/cli.js';
import { startTcpGate } from '../../helpers/tcp-gate.js';
import type { ConnectionTarget } from '../../../src/application/ports/connection-target.js';
import type { Logger } from '../../../src/application/ports/logger.js';
import type { Notifier, OutcomeEvent } from '../../../src/application/ports/notifier.js';
import { exitCodeFor, isDbBackupError } from '../../../src/domain/errors.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { tableHashes } from './fixtures.js';
import { captureUseCases } from './use-cases.js';

/**
 * Change capture must never harm the source and must say clearly when it cannot go on: requirement
 * checks naming the setting, schema changes (E_SCHEMA_CHANGED, or followed with --capture-ddl),
 * keyless tables under application writes, large objects, slot warnings and the progress line.
 */

let server: PostgresServer;
let work: string;
let n = 0;
const signal = new AbortController().signal;
const connector = new PostgresConnector({ partSize: 64 << 10 });

beforeAll(async () => {
  server = await startPostgres();
  work = await mkdtemp(join(tmpdir(), 'dbb-pgsafety-'));
});
afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

const at = (database: string, options: Record<string, unknown> = {}, port = server.port): ConnectionTarget => ({ engine: 'postgres', host: '127.0.0.1', port, user: 'postgres', database, options });

const services = (notifiers: Notifier[] = []) => captureUseCases(connector, notifiers);

/** A source database and a backup function of it into a fresh repository. */
async function source(sql: string, options: Record<string, unknown> = {}, notifiers: Notifier[] = []) {
  const db = `safe_${++n}`;
  await server.query(`CREATE DATABASE ${db}`);
  await server.query(sql, [], db);
  const app = services(notifiers);
  const repository = join(work, `repo_${n}`);
  const backup = (kind: 'full' | 'incremental' | 'differential', more: { autoFull?: boolean; slotWarnBytes?: number } = {}) =>
    app.runBackup.execute({ target: at(db, { capture: 'changes', ...options }), repository, kind, compression: { codec: 'none' }, parallel: 1, ...more }, signal);
  const restore = async (name: string, when?: Date) => {
    await app.restoreBackup.execute({ repository, backup: 'latest', ...(when ? { at: when } : {}), target: at(name), clean: false, options: { create: true } }, signal);
    return tableHashes(server, name);
  };
  return { db, backup, restore };
}

async function instant(): Promise<Date> {
  const [row] = await server.query<{ ms: string }>('SELECT ceil(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms');
  await new Promise((r) => setTimeout(r, 5));
  return new Date(Number(row!.ms));
}

describe('PostgreSQL change capture: requirements and safety', () => {
  it('requirements name the setting and its fix: wal_level, free slots, WAL senders; max_slot_wal_keep_size unset is a warning; rds_replication counts as the REPLICATION attribute', async () => {
    const small = await startPostgres(['-c', 'wal_level=replica', '-c', 'max_replication_slots=1', '-c', 'max_wal_senders=1']);
    const walsender = new pg.Client({ host: '127.0.0.1', port: small.port, user: 'postgres', database: 'postgres', replication: 'database' } as pg.ClientConfig);
    try {
      await small.query(`SELECT pg_create_physical_replication_slot('other_tool')`);
      await walsender.connect();
      const session = await connector.connect(at('postgres', {}, small.port), 'backup');
      const found = await session.slots!.requirements();
      await session.close();
      const bySetting = Object.fromEntries(found.map((f) => [f.setting, f]));
      expect(bySetting.wal_level).toMatchObject({ severity: 'error', message: expect.stringMatching(/wal_level is replica.*ALTER SYSTEM SET wal_level = logical.*restart/) });
      expect(bySetting.max_replication_slots).toMatchObject({ severity: 'error', message: expect.stringMatching(/all 1 replication slots are taken.*raise max_replication_slots/) });
      expect(bySetting.max_wal_senders).toMatchObject({ severity: 'error', message: expect.stringMatching(/all 1 WAL senders are busy.*raise max_wal_senders/) });
      expect(bySetting.max_slot_wal_keep_size).toMatchObject({ severity: 'warning', message: expect.stringMatching(/max_slot_wal_keep_size is unset.*ALTER SYSTEM SET max_slot_wal_keep_size/) });
      expect(bySetting.REPLICATION).toBeUndefined();

      // The backup refuses up front, naming the first problem, and leaves nothing on the server.
      const refused = await services()
        .runBackup.execute({ target: at('postgres', { capture: 'changes' }, small.port), repository: join(work, `repo_small_${++n}`), kind: 'full', compression: { codec: 'none' }, parallel: 1 }, signal)
        .catch((e: unknown) => e);
      expect(isDbBackupError(refused, 'E_UNSUPPORTED')).toBe(true);
      expect((refused as Error).message).toMatch(/cannot start: wal_level is replica/);
      expect(await small.query(`SELECT pubname FROM pg_publication`)).toEqual([]);
    } finally {
      await walsender.end().catch(() => undefined);
      await small.stop();
    }

    await server.query(`CREATE ROLE rds_replication; CREATE ROLE app_repl LOGIN; GRANT rds_replication TO app_repl; CREATE ROLE app_plain LOGIN`);
    const check = async (user: string) => {
      const session = await connector.connect({ ...at('postgres'), user }, 'backup');
      try {
        return (await session.slots!.requirements()).map((f) => f.setting);
      } finally {
        await session.close();
      }
    };
    expect(await check('app_repl')).not.toContain('REPLICATION');
    expect(await check('app_plain')).toContain('REPLICATION');
    // The main test server has max_slot_wal_keep_size unset: the full's manifest carries the advice.
    const { backup } = await source('CREATE TABLE public.t (id int PRIMARY KEY)');
    expect((await backup('full')).manifest.warnings.join('\n')).toMatch(/max_slot_wal_keep_size is unset/);
  });

  it('an ALTER TABLE without --capture-ddl fails the incremental with E_SCHEMA_CHANGED (exit 1) naming the fix; --auto-full takes a full instead', async () => {
    const { db, backup } = await source(`CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t VALUES (1, 'a');`);
    await backup('full');
    await server.query(`ALTER TABLE public.t ADD COLUMN w int; UPDATE public.t SET w = 1;`, [], db);
    const err = await backup('incremental').catch((e: unknown) => e);
    expect(isDbBackupError(err, 'E_SCHEMA_CHANGED')).toBe(true);
    expect(exitCodeFor('E_SCHEMA_CHANGED')).toBe(1);
    expect((err as Error).message).toMatch(/changed shape.*--capture-ddl.*Take a full backup instead.*--auto-full/);
    const auto = await backup('incremental', { autoFull: true });
    expect(auto.manifest).toMatchObject({ kind: 'full', fallback: { requested: 'incremental', reason: expect.stringMatching(/changed shape/) } });
  });

  it('with --capture-ddl the chain follows ALTER TABLE, CREATE TABLE and a dropped primary key (whose UPDATEs keep working); restores replay the DDL in order', async () => {
    const { db, backup, restore } = await source(
      `CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t SELECT g, 'v' || g FROM generate_series(1, 20) g;
       CREATE TABLE public.k (id int PRIMARY KEY, v text); INSERT INTO public.k VALUES (1, 'k1'), (2, 'k2');`,
      { captureDdl: true },
    );
    const full = (await backup('full')).manifest;
    expect(full.logPosition).toMatchObject({ ddl: true });
    expect(await server.query(`SELECT evtname FROM pg_event_trigger`, [], db)).toEqual([{ evtname: 'dbbackup_ddl' }]);
    await server.query(`UPDATE public.t SET v = 'before' WHERE id = 1`, [], db);
    const before = await instant();
    const atBefore = await tableHashes(server, db);
    await server.query(`ALTER TABLE public.t ADD COLUMN w int DEFAULT 7; UPDATE public.t SET w = id * 2 WHERE id <= 5;`, [], db);
    await server.query(`CREATE TABLE public.fresh (id int PRIMARY KEY, note text); INSERT INTO public.fresh VALUES (1, 'new table');`, [], db);
    // Dropping the key of a published table: the trigger takes it out of the publication at once.
    await server.query(`ALTER TABLE public.k DROP CONSTRAINT k_pkey`, [], db);
    await server.query(`UPDATE public.k SET v = 'updated without a key' WHERE id = 1; DELETE FROM public.k WHERE id = 2;`, [], db);
    const publication = await server.query<{ tablename: string }>(`SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1`, [full.logPosition!.publication], db);
    expect(publication.map((p) => p.tablename)).toEqual(['ddl_log', 'fresh', 't']);
    // The state the incremental ends at (its confirmation may then trim the source's DDL log: a later change).
    const atEnd = await tableHashes(server, db);
    const inc = await backup('incremental');
    expect(inc.manifest.kind).toBe('incremental');

    expect(await restore(`${db}_latest`)).toEqual(atEnd);
    expect(await restore(`${db}_before`, before)).toEqual(atBefore);
    const [col] = await server.query<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 't' AND column_name = 'w'`, [], `${db}_before`);
    expect(col!.n).toBe(0);

    // Dropping the database's last capture removes the DDL trigger and its log too.
    const session = await connector.connect(at(db), 'backup');
    const dropped = await session.slots!.drop(session.slots!.captureNameOf(db));
    await session.close();
    expect(dropped).toMatchObject({ publication: full.logPosition!.publication, ddlCapture: true });
    expect(await server.query(`SELECT evtname FROM pg_event_trigger`, [], db)).toEqual([]);
    expect(await server.query(`SELECT nspname FROM pg_namespace WHERE nspname = 'dbbackup'`, [], db)).toEqual([]);
  });

  it('with --capture-ddl the DDL log is trimmed of the rows every capture slot consumed, never of rows another chain still needs', async () => {
    const db = `safe_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t SELECT g, 'v' || g FROM generate_series(1, 20) g;`, [], db);
    // Two sources of one database (two chains, two slots, one DDL log).
    const app = services();
    const chain = (name: string) => {
      const repository = join(work, `repo_${db}_${name}`);
      return {
        backup: (kind: 'full' | 'incremental') => app.runBackup.execute({ source: name, target: at(db, { capture: 'changes', captureDdl: true }), repository, kind, compression: { codec: 'none' }, parallel: 1 }, signal),
        restore: async (into: string) => {
          await app.restoreBackup.execute({ repository, backup: 'latest', target: at(into), clean: false, options: { create: true } }, signal);
          return tableHashes(server, into);
        },
      };
    };
    const [a, b] = [chain('ta'), chain('tb')];
    await a.backup('full');
    await b.backup('full');
    await server.query(`ALTER TABLE public.t ADD COLUMN c1 int DEFAULT 1; ALTER TABLE public.t ADD COLUMN c2 text; UPDATE public.t SET c2 = 'x' WHERE id < 5`, [], db);
    const logged = async () => (await server.query<{ n: number }>(`SELECT count(*)::int AS n FROM dbbackup.ddl_log`, [], db))[0]!.n;
    const newest = (await server.query<{ xid: string }>(`SELECT max(xid)::text AS xid FROM dbbackup.ddl_log`, [], db))[0]!.xid;
    expect(await logged()).toBe(2);
    // The slot's catalog_xmin (widened to 64 bits) passing the logged transactions is what lets a row go.
    const passed = async (source: string) =>
      (
        await server.query<{ ok: boolean }>(
          `SELECT n.next - (((n.next % 4294967296) - s.catalog_xmin::text::bigint + 4294967296) % 4294967296) > $1::bigint AS ok
           FROM pg_replication_slots s, (SELECT txid_snapshot_xmax(txid_current_snapshot()) AS next) n WHERE s.slot_name LIKE $2`,
          [newest, `dbbackup_${source}\\_%`],
          db,
        )
      )[0]?.ok === true;
    // Chain A alone moves on (a checkpoint logs the running transactions its slot advances by): B still needs the rows.
    for (let round = 0; !(await passed('ta')); round++) {
      expect(round, 'slot ta never passed the DDL transactions').toBeLessThan(20);
      await server.query('CHECKPOINT', [], db);
      await server.query(`UPDATE public.t SET v = v || '.' WHERE id = 1`, [], db);
      await a.backup('incremental');
    }
    expect(await passed('tb')).toBe(false);
    expect(await logged()).toBe(2);
    // Once B's chain has them too, the next confirmation trims them.
    for (let round = 0; (await logged()) > 0; round++) {
      expect(round, 'the DDL log was never trimmed').toBeLessThan(20);
      await server.query('CHECKPOINT', [], db);
      await server.query(`UPDATE public.t SET v = v || '.' WHERE id = 2`, [], db);
      await b.backup('incremental');
      await a.backup('incremental');
    }
    // Both chains restore the schema change and the data; the trimming's DELETE, a change like any other,
    // reaches the chains whose backups end after it (B's last one ended before its own confirmation trimmed).
    await b.backup('incremental');
    const source = await tableHashes(server, db);
    expect(source['dbbackup.ddl_log']).toEqual({ rows: 0, hash: expect.any(String) });
    expect(await a.restore(`${db}_a`)).toEqual(source);
    expect(await b.restore(`${db}_b`)).toEqual(source);
  });

  it('with --capture-ddl a differential refuses to fold stored links holding captured DDL: E_NO_PARENT (exit 1) with the fix; an incremental follows; --auto-full takes a full', async () => {
    const { db, backup, restore } = await source('CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t SELECT g, \'v\' || g FROM generate_series(1, 20) g;', { captureDdl: true });
    await backup('full');
    await server.query(`UPDATE public.t SET v = 'one' WHERE id = 1; ALTER TABLE public.t ADD COLUMN w int DEFAULT 7; UPDATE public.t SET w = 1 WHERE id = 2;`, [], db);
    const inc = await backup('incremental');
    await server.query(`UPDATE public.t SET v = 'two' WHERE id = 3`, [], db);
    const refused = await backup('differential').catch((e: unknown) => e);
    expect(isDbBackupError(refused, 'E_NO_PARENT'), String(refused)).toBe(true);
    expect(exitCodeFor('E_NO_PARENT')).toBe(exitCodeFor('E_BACKUP_FAILED'));
    expect((refused as Error).message).toMatch(new RegExp(`A differential backup against .* is not possible: backup ${inc.manifest.id} holds a schema change \\(captured DDL\\), which a differential does not fold: take an incremental, or a full \\(--type full, or --auto-full\\)`));
    // Nothing was written for it: the chain goes on with an incremental, which replays the DDL in order.
    const atEnd = await tableHashes(server, db);
    expect((await backup('incremental')).manifest.kind).toBe('incremental');
    expect(await restore(`${db}_latest`)).toEqual(atEnd);
    await server.query(`UPDATE public.t SET v = 'three' WHERE id = 4`, [], db);
    expect((await backup('differential', { autoFull: true })).manifest.kind).toBe('full');
  });

  it('a keyless table is never published, so application UPDATEs on it never fail, during a backup too; --replica-identity-full captures it with consent', async () => {
    const { db, backup, restore } = await source(`CREATE TABLE public.bag (a int, b text); INSERT INTO public.bag SELECT g, 'x' FROM generate_series(1, 200) g;
      CREATE TABLE public.t (id int PRIMARY KEY, v text);`);
    await backup('full');
    let stop = false;
    let updates = 0;
    const writer = (async () => {
      const client = await server.connect(db);
      try {
        while (!stop) {
          await client.query(`UPDATE public.bag SET b = md5(random()::text) WHERE a = ${1 + (updates % 200)}`);
          await client.query(`DELETE FROM public.bag WHERE a = -1`);
          updates++;
        }
      } finally {
        await client.end();
      }
    })();
    try {
      // Not claimed for PITR: the manifest says the keyless table is as of the parent before the end.
      expect((await backup('incremental')).manifest.warnings.join('\n')).toMatch(/public\.bag has no primary key or replica identity: read whole at this backup's end/);
      await backup('incremental');
    } finally {
      stop = true;
    }
    await writer;
    expect(updates).toBeGreaterThan(0);
    await backup('incremental');
    expect(await restore(`${db}_latest`)).toEqual(await tableHashes(server, db));

    const consent = await source(`CREATE TABLE public.bag (a int, b text); INSERT INTO public.bag VALUES (1, 'one'), (2, 'two');`, { replicaIdentityFull: true });
    const full = (await consent.backup('full')).manifest;
    expect(full.warnings.join('\n')).toMatch(/--replica-identity-full: public\.bag now have REPLICA IDENTITY FULL/);
    expect(await server.query(`SELECT relreplident FROM pg_class WHERE relname = 'bag'`, [], consent.db)).toEqual([{ relreplident: 'f' }]);
    await server.query(`UPDATE public.bag SET b = 'uno' WHERE a = 1`, [], consent.db);
    const between = await instant();
    const atBetween = await tableHashes(server, consent.db);
    await server.query(`DELETE FROM public.bag WHERE a = 2`, [], consent.db);
    const inc = (await consent.backup('incremental')).manifest;
    expect(inc.engineInfo.wholeTables).toEqual([]);
    // Captured by decoding, the keyless table now restores to an instant between two backups.
    expect(await consent.restore(`${consent.db}_between`, between)).toEqual(atBetween);
  });

  it('large objects changed after the full are reported by every incremental; a slot over slot-warn-bytes is notified; slot creation says it waits', async () => {
    const events: OutcomeEvent[] = [];
    const notifier: Notifier = { name: 'memory', throttleMs: 0, wants: (e) => e.task === 'slot', send: async (e) => void events.push(e) };
    const { db, backup } = await source(`CREATE TABLE public.t (id int PRIMARY KEY); SELECT lo_from_bytea(0, 'first');`, {}, [notifier]);
    await backup('full', { slotWarnBytes: 1 << 40 });
    expect(events).toEqual([]);
    await server.query(`INSERT INTO public.t VALUES (1)`, [], db);
    expect((await backup('incremental')).manifest.warnings).toEqual([]);
    await server.query(`SELECT lo_put((SELECT min(oid) FROM pg_largeobject_metadata), 0, 'FIRST')`, [], db);
    const one = await backup('incremental', { slotWarnBytes: 1 });
    expect(one.manifest.warnings.join('\n')).toMatch(/Large objects were created, changed or deleted since the full backup/);
    expect((await backup('incremental')).manifest.warnings.join('\n')).toMatch(/Large objects/);
    expect(events).toEqual([expect.objectContaining({ task: 'slot', outcome: 'partial', source: db, warnings: [expect.stringMatching(/holds .* of WAL on the server/)] })]);

    // The progress line: told while CREATE_REPLICATION_SLOT waits for a running transaction.
    const lines: (string | undefined)[] = [];
    const blocker = await server.connect(db);
    await blocker.query('BEGIN');
    await blocker.query('INSERT INTO public.t VALUES (2)');
    const session = await connector.connect(at(db, { capture: 'changes' }), 'backup');
    const sink = { write: async (spec: { name: string; role: string }, body: AsyncIterable<unknown>) => {
      for await (const _ of body) void _;
      return { name: spec.name, role: spec.role, codecs: [], rawSize: 0, storedSize: 0, sha256: '' };
    } };
    const dumping = session.dump({ kind: 'full', parallel: 1, source: db, status: (s) => lines.push(s) }, sink as never, signal);
    while (lines.length === 0) await new Promise((r) => setTimeout(r, 20));
    expect(lines).toEqual([expect.stringMatching(/waiting for the transactions running now/)]);
    await blocker.query('COMMIT');
    await blocker.end();
    await dumping;
    await session.close();
    expect(lines).toEqual([expect.stringMatching(/waiting/), undefined]);
  });
});

describe('PostgreSQL change capture: a slot left by a killed run', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('backup --capture changes killed once its slot exists and before its full is complete leaves the slot; the next backup drops it, says so and proceeds; a slot a complete backup names, another source\'s and a foreign name are kept', async () => {
    // The tests before are done with their chains: their slots go (the server has 10).
    await server.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active`);
    const db = `safe_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t SELECT g, g::text FROM generate_series(1, 100) g`, [], db);
    const dir = join(work, `killed_${n}`);
    await mkdir(dir);
    const pendingDir = join(dir, 'data', 'pending-slots');
    const env = { DBBACKUP_DATA_DIR: join(dir, 'data'), DBBACKUP_LOG_FILE: 'off' };
    const repo = join(dir, 'repo');
    const args = (...more: string[]) => ['backup', '--db', 'postgres', '--url', server.url(db), '--out', repo, '--compress', 'none', ...more];
    let killedPid = 0;
    const slotsOf = () => server.query<{ name: string; active: boolean }>(`SELECT slot_name AS name, active FROM pg_replication_slots WHERE slot_name LIKE 'dbbackup\\_%' AND database = $1 ORDER BY 1`, [db]);

    // The backup's connections pass through a gate that holds the first one opened once its slot
    // exists (the snapshot's dump starting): the run is then killed with its slot made, its full not.
    let held: (() => void) | undefined;
    const gate = await startTcpGate({ port: server.port }, async () => {
      if ((await slotsOf()).length === 0) return;
      await new Promise<void>((resolve) => (held = resolve));
    });
    try {
      const child = spawn(process.execPath, [BIN, ...args('--capture', 'changes').map((a) => a.replace(`:${server.port}/`, `:${gate.port}/`))], { cwd: dir, env: { ...process.env, ...env }, stdio: 'ignore' });
      const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
      while (!held) {
        if (child.exitCode !== null) throw new Error(`the backup ended (${child.exitCode}) before its dump started`);
        await sleep(20);
      }
      // Recorded before it was created.
      expect(readdirSync(pendingDir).filter((f) => f.endsWith('.json'))).toHaveLength(1);
      child.kill('SIGKILL');
      await exited;
      killedPid = child.pid!;
    } finally {
      held?.();
      await gate.stop();
    }
    // Left on the server, named by no backup: it would hold WAL for ever.
    let left = await slotsOf();
    while (left[0]?.active) left = await sleep(20).then(slotsOf);
    expect(left).toHaveLength(1);
    expect(left[0]!.active).toBe(false);
    const slot = left[0]!.name;

    const next = await runCli(args('--capture', 'changes'), { env, cwd: dir });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toContain(`dropped slot ${slot} left by a killed run (pid ${killedPid})`);
    const now = await slotsOf();
    expect(now).toHaveLength(1);
    const kept = now[0]!.name;
    expect(kept).not.toBe(slot);
    expect(readdirSync(pendingDir).filter((f) => f.endsWith('.json'))).toEqual([]);

    // Records of a process that has ended: one naming the slot the complete full names (kept, its
    // record dropped), one of another source (not looked at), one naming a slot dbbackup did not make.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const records = new FilePendingSlots(pendingDir, { pid: dead });
    await server.query(`SELECT pg_create_logical_replication_slot('dbbackup_other_k9', 'pgoutput'), pg_create_logical_replication_slot('someone_elses', 'pgoutput')`, [], db);
    await records.record(db, kept, [repositoryDigest(repo)]);
    await records.record('other', 'dbbackup_other_k9', [repositoryDigest(repo)]);
    await records.record(db, 'someone_elses', [repositoryDigest(repo)]);
    await server.query(`INSERT INTO public.t VALUES (1000, 'later')`, [], db);
    // In this process (a CLI start less), as the CLI wires it: the records in the data folder.
    const said: string[] = [];
    const logger: Logger = { debug() {}, info() {}, warn: (m) => void said.push(m), error() {}, child: () => logger };
    const app = captureUseCases(connector, [], { pendingSlots: new FilePendingSlots(pendingDir), logger });
    await app.runBackup.execute({ target: at(db), source: db, repository: repo, kind: 'incremental', compression: { codec: 'none' }, parallel: 1 }, signal);
    expect(said.join('\n')).not.toMatch(/dropped slot/);
    expect(said.join('\n')).toMatch(/names someone_elses, which is not a dbbackup capture slot; it is left alone/);
    const all = await server.query<{ name: string }>(`SELECT slot_name AS name FROM pg_replication_slots WHERE database = $1 ORDER BY 1`, [db]);
    expect(all.map((r) => r.name)).toEqual(['dbbackup_other_k9', kept, 'someone_elses'].sort());
    expect(await records.list(db)).toEqual([]);
    expect((await records.list('other')).map((r) => r.slot)).toEqual(['dbbackup_other_k9']);
    await server.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [db]);
  });
});
