import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresConnector } from '../../../src/adapters/connectors/postgres/postgres-connector.js';
import { changeLines } from '../../../src/adapters/connectors/postgres/postgres-change-records.js';
import { resolveEndpoint } from '../../../src/adapters/connectors/postgres/connection.js';
import { RESTART_LAG_BYTES, catchUpRestart, lsnToBigInt, openReplication } from '../../../src/adapters/connectors/postgres/postgres-replication.js';
import { partLines } from '../../../src/adapters/connectors/postgres/postgres-stream-segment.js';
import type { ChangeLine } from '../../../src/adapters/connectors/postgres/postgres-change-log.js';
import type { ChangeBatch, LogPosition } from '../../../src/application/ports/change-capture.js';
import type { ConnectionTarget } from '../../../src/application/ports/connection-target.js';
import type { LogBatch } from '../../../src/application/ports/continuous-capture.js';
import type { PartSink, PartSource } from '../../../src/application/ports/parts.js';
import { slotWarnings } from '../../../src/application/services/slot-alerts.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { LOG_SEGMENT_PART, type LogCommit, encodeLogSegment } from '../../../src/domain/log-segment.js';
import type { Manifest, PartEntry } from '../../../src/domain/manifest.js';
import { PG_BIN, type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { tableHashes } from './fixtures.js';
import { captureUseCases } from './use-cases.js';

let server: PostgresServer;
let work: string;
let n = 0;
const signal = new AbortController().signal;
const connector = new PostgresConnector({ partSize: 64 << 10 });

beforeAll(async () => {
  server = await startPostgres();
  work = await mkdtemp(join(tmpdir(), 'dbb-pgchanges-'));
});
afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

const at = (database: string, options: Record<string, unknown> = {}): ConnectionTarget => ({ engine: 'postgres', host: '127.0.0.1', port: server.port, user: 'postgres', database, options });

const services = () => captureUseCases(connector);

/** A full backup with capture into a fresh repository, restored into a fresh database. */
async function fullWithCapture(source: string): Promise<{ manifest: Manifest; copy: string }> {
  const app = services();
  const repository = join(work, `repo_${++n}`);
  const { manifest } = await app.runBackup.execute({ target: at(source, { capture: 'changes' }), repository, kind: 'full', compression: { codec: 'none' }, parallel: 2 }, signal);
  const copy = `copy_${n}`;
  await app.restoreBackup.execute({ repository, backup: 'latest', target: at(copy), clean: false, options: { create: true } }, signal);
  return { manifest, copy };
}

/** A sink that keeps the parts in memory, and a PartSource over them. */
function memoryParts(manifest: Manifest) {
  const bytes = new Map<string, Buffer>();
  const parts: PartEntry[] = [];
  const sink: PartSink = {
    async write(spec, body) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
      const raw = Buffer.concat(chunks);
      const entry: PartEntry = { name: spec.name, role: spec.role, codecs: [], rawSize: raw.length, storedSize: raw.length, sha256: createHash('sha256').update(raw).digest('hex') };
      bytes.set(spec.name, raw);
      parts.push(entry);
      return entry;
    },
  };
  const source = (): PartSource => ({ manifest: { ...manifest, kind: 'incremental', parts }, open: async (p) => Readable.from([bytes.get(p.name)!]) });
  return { sink, source, bytes, parts };
}

/** A line as change-log format 1 (the JSON lines dbbackup wrote before format 2) has it. */
function formatOne(line: ChangeLine): string {
  const { kind, ...rest } = line as ChangeLine & Record<string, unknown>;
  if (line.kind === 'header') return `${JSON.stringify({ format: 'dbbackup-pg-changes', version: 1 })}\n`;
  if (line.kind === 'change') return `${JSON.stringify(line.change)}\n`;
  return `${JSON.stringify({ [kind]: line.kind === 'sequences' ? line.sequences : rest })}\n`;
}

/** Every part's lines (either format) as format 1's JSON lines. */
async function logText(bytes: Map<string, Buffer>): Promise<string> {
  let out = '';
  for (const [name, b] of bytes) for await (const line of changeLines(Readable.from([b]), name)) out += formatOne(line);
  return out;
}

/** A replicate segment's commits as a backup's parts. */
function segment(manifest: Manifest, commits: LogCommit[]): PartSource {
  const bytes = Buffer.concat([...encodeLogSegment(commits)]);
  const part: PartEntry = { name: LOG_SEGMENT_PART, role: 'changes', codecs: [], rawSize: bytes.length, storedSize: bytes.length, sha256: '' };
  return { manifest: { ...manifest, kind: 'incremental', parts: [part] }, open: async () => Readable.from([bytes]) };
}

/** The commits as replicate wrote them before change-log format 2: each transaction's JSON lines (format 1). */
async function formatOneCommits(manifest: Manifest, commits: LogCommit[]): Promise<LogCommit[]> {
  const texts: string[] = [];
  const seg = segment(manifest, commits);
  for await (const line of partLines(LOG_SEGMENT_PART, await seg.open(seg.manifest.parts[0]!), 'test')) {
    if (line.kind === 'begin') texts.push(formatOne(line));
    else if (line.kind !== 'header') texts[texts.length - 1] += formatOne(line);
  }
  expect(texts).toHaveLength(commits.length);
  return commits.map((c, i) => ({ time: c.time, payload: Buffer.from(texts[i]!) }));
}

async function read(database: string, since: LogPosition, manifest: Manifest): Promise<{ batch: ChangeBatch; parts: ReturnType<typeof memoryParts> }> {
  const session = await connector.connect(at(database), 'backup');
  try {
    const parts = memoryParts(manifest);
    const batch = await session.changes!.readChanges(since, parts.sink, signal);
    return { batch, parts };
  } finally {
    await session.close();
  }
}

async function apply(database: string, parts: PartSource, until?: Date) {
  const session = await connector.connect(at(database), 'restore');
  try {
    return await session.changes!.applyChanges(parts, until ? { time: until } : undefined, signal);
  } finally {
    await session.close();
  }
}

/** The server's time now, rounded up to the next millisecond (a Date), then a pause so that later commits are later. */
async function instant(): Promise<Date> {
  const [row] = await server.query<{ ms: string }>("SELECT ceil(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms");
  await new Promise((r) => setTimeout(r, 5));
  return new Date(Number(row!.ms));
}

const SCHEMA = String.raw`
CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL, note text, blob text, at timestamptz(6), price numeric);
CREATE TABLE public."Odd ""Name""" ("key col" text PRIMARY KEY, "v;al" jsonb);
CREATE TABLE public.nokey (a int, b text);
CREATE TABLE public.full_ident (a int, b json);
ALTER TABLE public.full_ident REPLICA IDENTITY FULL;
CREATE TABLE public.gen (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
CREATE TABLE public.trunc (id serial PRIMARY KEY, v text);
INSERT INTO public.items SELECT g, 'item ' || g, NULL, CASE WHEN g = 1 THEN (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 4000) i) END, '2026-01-01 00:00:00.123456+00', g * 1.5 FROM generate_series(1, 500) g;
INSERT INTO public."Odd ""Name""" VALUES ('a''b', '{"x": 1}');
INSERT INTO public.nokey VALUES (1, 'one');
INSERT INTO public.full_ident VALUES (1, '{"a": 1}'), (1, '{"a": 1}'), (2, NULL);
INSERT INTO public.gen (v) VALUES ('g1');
INSERT INTO public.trunc (v) SELECT 'x' FROM generate_series(1, 10);
`;

describe('PostgreSQL change capture (logical decoding)', () => {
  it('a full with capture, then inserts/updates/deletes/truncate, TOAST-unchanged columns, keyless tables: applied onto the restored full, at two instants', async () => {
    const db = `src_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query(SCHEMA, [], db);
    const { manifest, copy } = await fullWithCapture(db);
    const position = manifest.logPosition as LogPosition;
    expect(position).toMatchObject({ slot: expect.stringMatching(/^dbbackup_src_\d+_/), publication: `dbbackup_${db}`, lsn: expect.stringMatching(/\//) });
    expect(manifest.warnings.join('\n')).toMatch(/public\.nokey has no primary key/);
    expect(await tableHashes(server, copy)).toEqual(await tableHashes(server, db));

    await server.query(
      String.raw`
      INSERT INTO public.items VALUES (1001, 'new', 'n', NULL, '2026-02-02 10:00:00.000001+00', 0.1);
      INSERT INTO public.items (id, name, blob) SELECT 1002, 'big', string_agg(md5(g::text), '') FROM generate_series(1, 40000) g; -- 1.3 MB: one message over many socket reads
      UPDATE public.items SET name = 'renamed' WHERE id = 1;            -- blob stays TOASTed and unchanged ('u')
      UPDATE public.items SET id = 2000 WHERE id = 2;                   -- key change
      DELETE FROM public.items WHERE id BETWEEN 10 AND 19;
      UPDATE public."Odd ""Name""" SET "v;al" = '{"y": [1, 2]}' WHERE "key col" = 'a''b';
      INSERT INTO public.full_ident VALUES (3, '{"b": 2}');
      DELETE FROM public.full_ident WHERE ctid = (SELECT ctid FROM public.full_ident WHERE a = 1 LIMIT 1);
      UPDATE public.full_ident SET b = '[1]' WHERE a = 2;
      INSERT INTO public.gen (v) VALUES ('g2');
      UPDATE public.nokey SET b = 'still writable' WHERE a = 1;
      DELETE FROM public.nokey;
      -- One transaction (the whole string is one) changing the same keys again and again: applied in order.
      INSERT INTO public.items VALUES (3001, 'a', NULL, NULL, NULL, 1);
      UPDATE public.items SET name = 'b' WHERE id = 3001;
      DELETE FROM public.items WHERE id = 3001;
      INSERT INTO public.items VALUES (3001, 'c', 'again', NULL, NULL, 2);
      UPDATE public.items SET id = 3002 WHERE id = 3001;
      INSERT INTO public.items VALUES (3001, 'd', NULL, NULL, NULL, 3);
      DELETE FROM public.items WHERE id = 3;
      INSERT INTO public.items VALUES (3, 'three again', NULL, NULL, NULL, 3);
      UPDATE public.items SET name = 'four', id = 4000 WHERE id = 4;
      UPDATE public.items SET id = 4 WHERE id = 5;
      UPDATE public.items SET note = 'was five' WHERE id = 4;
      `,
      [],
      db,
    );
    const first = await instant();
    const atFirst = await tableHashes(server, db);
    await server.query(
      `BEGIN; TRUNCATE public.trunc RESTART IDENTITY; INSERT INTO public.trunc (v) VALUES ('after'); UPDATE public.items SET note = 'late' WHERE id < 100;
       INSERT INTO public.items SELECT g, repeat('large transaction ', 10), NULL, NULL, now(), g FROM generate_series(5000, 7000) g; COMMIT;`,
      [],
      db,
    );
    const atEnd = await tableHashes(server, db);

    const { batch, parts } = await read(db, position, manifest);
    expect(batch.changes).toBeGreaterThan(100);
    expect(batch.from).toEqual(position);
    expect(batch.to).toMatchObject({ slot: position.slot, publication: position.publication });
    expect(batch.objects.map((o) => o.name)).toContain('public.trunc');
    expect(batch.objects.map((o) => o.name)).toContain('public.nokey');
    expect(parts.parts.length).toBeGreaterThan(1);
    // The slot's changes are stored as the server's pgoutput messages (format 2), the sequences as a JSON line (format 1).
    expect(parts.parts.filter((p) => p.name.endsWith('.pgo')).length).toBeGreaterThan(0);
    const text = await logText(parts.bytes);
    expect(text).toContain('"op":"T"');
    expect(text).toContain('"sequences"');
    // The TOASTed blob did not change with the rename: it is not in the update (and stays on apply).
    const rename = text.split('\n').find((l) => l.includes('"renamed"'))!;
    expect(JSON.parse(rename)).toEqual({ op: 'U', rel: ['public', 'items'], key: [['id', '1']], new: [['id', '1'], ['name', 'renamed'], ['note', null], ['at', '2026-01-01 00:00:00.123456+00'], ['price', '1.5']] });

    // Up to the first instant: exactly the source then (the keyless table aside: it stays as of the full, read whole only at the end).
    const early = `early_${n}`;
    await copyDatabase(copy, early);
    const firstOutcome = await apply(early, parts.source(), first);
    expect(firstOutcome.warnings?.join('\n') ?? '').toMatch(/Sequences were set/);
    expect(withoutKeyless(await tableHashes(server, early))).toEqual(withoutKeyless(atFirst));

    // Everything: the source at the end, the keyless table included.
    await apply(copy, parts.source());
    expect(await tableHashes(server, copy)).toEqual(atEnd);
    const [seq] = await server.query<{ v: string }>(`SELECT last_value::text AS v FROM public.trunc_id_seq`, [], copy);
    expect(seq!.v).toBe('1');
    const [gen] = await server.query<{ id: number }>(`INSERT INTO public.gen (v) VALUES ('next') RETURNING id`, [], copy);
    expect(gen!.id).toBe(3);

    // Nothing was confirmed: the same changes can be read again; after confirm() they are gone.
    const again = await read(db, position, manifest);
    expect(again.batch.changes).toBe(batch.changes);
    // A crash after the batch was stored but before confirm(): the next read starts at its end and repeats nothing.
    const after = await read(db, batch.to, manifest);
    expect(after.batch.changes).toBe(0);
    const session = await connector.connect(at(db), 'backup');
    await (session.changes as unknown as { confirm(p: LogPosition): Promise<void> }).confirm(batch.to);
    await session.close();
    const gone = await read(db, position, manifest).catch((e: unknown) => e);
    expect(isDbBackupError(gone, 'E_SLOT_LOST')).toBe(true);
    const next = await read(db, batch.to, manifest);
    expect(next.batch.changes).toBe(0);
  });

  it('the slot is confirmed over the read’s own stream, held open by the session until confirm(); a session closed without confirming leaves the slot as it was, free', async () => {
    const db = `src_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query('CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t SELECT g, g::text FROM generate_series(1, 20) g;', [], db);
    const { manifest } = await fullWithCapture(db);
    const position = manifest.logPosition as LogPosition;
    const slot = async () => (await server.query<{ active: boolean; confirmed: string }>(`SELECT active, confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = $1`, [position.slot]))[0]!;
    await server.query(`UPDATE public.t SET v = 'x' WHERE id <= 10; DELETE FROM public.t WHERE id > 15;`, [], db);
    // Not confirmed: the session ends, its stream with it; the slot is free and where it was.
    const unconfirmed = await read(db, position, manifest);
    expect(unconfirmed.batch.changes).toBe(15);
    expect(await slot()).toEqual({ active: false, confirmed: position.lsn });
    const session = await connector.connect(at(db), 'backup');
    try {
      const parts = memoryParts(manifest);
      const batch = await session.changes!.readChanges(position, parts.sink, signal);
      expect(batch.changes).toBe(15);
      // The read's stream is held (the slot is in use) until the batch is stored everywhere and confirmed.
      expect(await slot()).toEqual({ active: true, confirmed: position.lsn });
      await (session.changes as unknown as { confirm(p: LogPosition): Promise<void> }).confirm(batch.to);
      expect(await slot()).toEqual({ active: false, confirmed: batch.to.lsn });
    } finally {
      await session.close();
    }
    expect((await read(db, position, manifest).catch((e: unknown) => e)) instanceof Error).toBe(true);
  });

  it('a slot confirmed only at each backup’s end keeps its restart point far behind; the next read moves it up to the last restart point before the parent’s end (nothing confirmed, no change lost or repeated)', async () => {
    const db = `src_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query('CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t SELECT g, g::text FROM generate_series(1, 20) g;', [], db);
    const { manifest, copy } = await fullWithCapture(db);
    const position = manifest.logPosition as LogPosition;
    const slot = async () => (await server.query<{ restart: string; confirmed: string }>(`SELECT restart_lsn::text AS restart, confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = $1`, [position.slot]))[0]!;
    const lsn = (s: string) => lsnToBigInt(s);
    // A running-transactions record (CHECKPOINT logs one) just after the full: the WAL sender's only
    // candidate restart point in the first read. Then 2 MB of WAL (logical messages pgoutput does not
    // send) and another such record, which that read passes but cannot take.
    await server.query('CHECKPOINT', [], db);
    await server.query(`SELECT pg_catalog.pg_logical_emit_message(false, 'dbbackup-test', repeat('x', 1 << 20)) FROM generate_series(1, 2)`, [], db);
    const [{ beforeSecond }] = await server.query<{ beforeSecond: string }>(`SELECT pg_current_wal_insert_lsn()::text AS "beforeSecond"`, [], db);
    await server.query('CHECKPOINT', [], db);
    await server.query(`UPDATE public.t SET v = 'first' WHERE id <= 5`, [], db);
    const readAndConfirm = async (since: LogPosition) => {
      const session = await connector.connect(at(db), 'backup');
      try {
        const parts = memoryParts(manifest);
        const batch = await session.changes!.readChanges(since, parts.sink, signal);
        await (session.changes as unknown as { confirm(p: LogPosition): Promise<void> }).confirm(batch.to);
        return { batch, parts };
      } finally {
        await session.close();
      }
    };
    const first = await readAndConfirm(position);
    expect(first.batch.changes).toBe(5);
    const afterFirst = await slot();
    expect(afterFirst.confirmed).toBe(first.batch.to.lsn);
    expect(lsn(afterFirst.restart)).toBeLessThan(lsn(beforeSecond));
    expect(lsn(afterFirst.confirmed) - lsn(afterFirst.restart)).toBeGreaterThanOrEqual(RESTART_LAG_BYTES);
    // What the next read does first, on a copy of the slot: its restart point moves up to the second record, its confirmed position stays.
    await server.query(`SELECT pg_catalog.pg_copy_logical_replication_slot($1, $2)`, [position.slot, `${position.slot}_copy`], db);
    const replication = await openReplication(resolveEndpoint(at(db)));
    try {
      expect(await catchUpRestart(replication, `${position.slot}_copy`, afterFirst.confirmed, afterFirst.restart)).toBe(true);
    } finally {
      await replication.end();
    }
    const [copied] = await server.query<{ restart: string; confirmed: string }>(`SELECT restart_lsn::text AS restart, confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = $1`, [`${position.slot}_copy`]);
    await server.query(`SELECT pg_catalog.pg_drop_replication_slot($1)`, [`${position.slot}_copy`]);
    expect(copied!.confirmed).toBe(afterFirst.confirmed);
    expect(lsn(copied!.restart)).toBeGreaterThanOrEqual(lsn(beforeSecond));
    await server.query(`UPDATE public.t SET v = 'second' WHERE id > 15; DELETE FROM public.t WHERE id = 1`, [], db);
    const second = await readAndConfirm(first.batch.to);
    expect(second.batch.changes).toBe(6);
    const afterSecond = await slot();
    expect(afterSecond.confirmed).toBe(second.batch.to.lsn);
    expect(lsn(afterSecond.restart)).toBeGreaterThanOrEqual(lsn(beforeSecond));
    // Both batches applied onto the full: the source's state, each change once.
    await apply(copy, first.parts.source());
    await apply(copy, second.parts.source());
    expect(await tableHashes(server, copy)).toEqual(await tableHashes(server, db));
  });

  it('a chain whose older incremental is in change-log format 1 (as dbbackup wrote it before format 2) applies with a newer one in format 2 to the source state', async () => {
    const db = `src_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text, big text); INSERT INTO public.t SELECT g, 'v' || g, NULL FROM generate_series(1, 100) g;`, [], db);
    const { manifest, copy } = await fullWithCapture(db);
    await server.query(String.raw`UPDATE public.t SET v = 'a' || id WHERE id <= 50; DELETE FROM public.t WHERE id > 90; INSERT INTO public.t VALUES (500, E'tab	here
nl \ "q"', repeat('x', 5000));`, [], db);
    const first = await read(db, manifest.logPosition as LogPosition, manifest);
    await server.query(`UPDATE public.t SET id = 1001 WHERE id = 1; UPDATE public.t SET v = 'toast kept' WHERE id = 500; DELETE FROM public.t WHERE id = 2;`, [], db);
    const second = await read(db, first.batch.to, manifest);
    const atEnd = await tableHashes(server, db);
    // The first incremental as the previous version wrote it: each part rewritten as format 1's JSON lines.
    const older = memoryParts(manifest);
    for (const p of first.parts.parts) {
      let text = '';
      for await (const line of changeLines(Readable.from([first.parts.bytes.get(p.name)!]), p.name)) text += formatOne(line);
      await older.sink.write({ name: p.name.replace(/\.pgo$/, '.jsonl'), role: 'changes' }, Readable.from([Buffer.from(text)]));
    }
    expect(older.parts.map((p) => p.name.split('.').pop())).toEqual(first.parts.parts.map(() => 'jsonl'));
    expect(second.parts.parts.some((p) => p.name.endsWith('.pgo'))).toBe(true);
    await apply(copy, older.source());
    await apply(copy, second.parts.source());
    expect(await tableHashes(server, copy)).toEqual(atEnd);
  });

  it('a second full takes a new slot and keeps the old one until retire(); a role without REPLICATION is refused up front, naming the fix', async () => {
    const db = `src_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t VALUES (1, 'a');`, [], db);
    const first = (await fullWithCapture(db)).manifest.logPosition as LogPosition;
    const second = (await fullWithCapture(db)).manifest.logPosition as LogPosition;
    expect(second.slot).not.toBe(first.slot);
    expect(await slotsOf(db)).toEqual([first.slot, second.slot].sort());
    const session = await connector.connect(at(db), 'backup');
    const capture = session.changes as unknown as { retire(p: LogPosition): Promise<void> };
    await capture.retire(first);
    await capture.retire(first);
    await session.close();
    expect(await slotsOf(db)).toEqual([second.slot]);

    // A schema change after the full: the changes cannot follow it.
    const secondManifest = { id: 'x', parts: [] } as unknown as Manifest;
    expect((await read(db, second, secondManifest)).batch.changes).toBe(0);
    await server.query('ALTER TABLE public.t ADD COLUMN w int', [], db);
    const changed = await read(db, second, secondManifest).catch((e: unknown) => e);
    expect(isDbBackupError(changed, 'E_SCHEMA_CHANGED')).toBe(true);
    expect((changed as { details?: { reason?: string } }).details?.reason).toBe('schema-changed');

    await server.query(`CREATE ROLE plain LOGIN; GRANT ALL ON DATABASE ${db} TO plain; ALTER DATABASE ${db} OWNER TO plain`);
    const app = services();
    const refused = await app.runBackup
      .execute({ target: { ...at(db, { capture: 'changes' }), user: 'plain' }, repository: join(work, `repo_${++n}`), kind: 'full', compression: { codec: 'none' }, parallel: 1 }, signal)
      .catch((e: unknown) => e);
    expect(isDbBackupError(refused, 'E_UNSUPPORTED')).toBe(true);
    expect((refused as Error).message).toMatch(/REPLICATION attribute.*ALTER ROLE "plain" REPLICATION/);
    expect(await slotsOf(db)).toEqual([second.slot]);
  });

  it('a slot the server invalidated (wal_status = lost) ends the chain with a clear error', async () => {
    const db = `src_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text)`, [], db);
    const { manifest } = await fullWithCapture(db);
    const position = manifest.logPosition as LogPosition;
    try {
      await server.query(`ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'`);
      await server.query('SELECT pg_reload_conf()');
      for (let i = 0; i < 4; i++) {
        await server.query(`INSERT INTO public.t SELECT g + ${i * 20000}, repeat('x', 100) FROM generate_series(1, 20000) g`, [], db);
        await server.query('SELECT pg_switch_wal()');
        await server.query('CHECKPOINT');
      }
      const [state] = await server.query<{ wal_status: string }>('SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1', [position.slot]);
      expect(state!.wal_status).toBe('lost');
    } finally {
      await server.query('ALTER SYSTEM RESET max_slot_wal_keep_size');
      await server.query('SELECT pg_reload_conf()');
    }
    const err = await read(db, position, manifest).catch((e: unknown) => e);
    expect(isDbBackupError(err, 'E_SLOT_LOST')).toBe(true);
    expect((err as Error).message).toMatch(/invalidated.*wal_status = lost.*max_slot_wal_keep_size/);
    // The slot port shows it lost, with nothing retained: `slot list`, `schedule status` and the metrics say so.
    const session = await connector.connect(at(db), 'backup');
    const slots = await session.slots!.list(session.slots!.captureNameOf(db));
    await session.close();
    expect(slots).toEqual([expect.objectContaining({ name: position.slot, health: 'lost', serverStatus: 'lost', retainedBytes: null })]);
    expect(slotWarnings(slots, 1 << 30)).toEqual([expect.stringMatching(/invalidated the capture slot .* next backup must be a full/)]);
    await server.query('SELECT pg_drop_replication_slot($1)', [position.slot]);
  });

  it('through the use-cases: a full with capture, two incrementals, then a chain restore to the latest point and to an instant between', async () => {
    const db = `src_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text); CREATE TABLE public.bag (v text); INSERT INTO public.t SELECT g, 'v' || g FROM generate_series(1, 100) g;`, [], db);
    const app = services();
    const repository = join(work, `repo_${++n}`);
    const backup = (kind: 'full' | 'incremental') =>
      app.runBackup.execute({ target: at(db, { capture: 'changes' }), repository, kind, compression: { codec: 'none' }, parallel: 1 }, signal);
    await backup('full');
    await server.query(`UPDATE public.t SET v = 'one' WHERE id <= 10; DELETE FROM public.t WHERE id > 90; INSERT INTO public.bag VALUES ('a');`, [], db);
    const one = await backup('incremental');
    expect(one.manifest).toMatchObject({ kind: 'incremental', logPosition: { slot: expect.stringMatching(/^dbbackup_/) } });
    const middle = await instant();
    const atMiddle = await tableHashes(server, db);
    await server.query(`TRUNCATE public.t; INSERT INTO public.t VALUES (1, 'after truncate'); INSERT INTO public.bag VALUES ('b');`, [], db);
    await backup('incremental');
    const atEnd = await tableHashes(server, db);

    await app.restoreBackup.execute({ repository, backup: 'latest', target: at(`${db}_latest`), clean: false, options: { create: true } }, signal);
    expect(await tableHashes(server, `${db}_latest`)).toEqual(atEnd);
    await app.restoreBackup.execute({ repository, backup: 'latest', at: middle, target: at(`${db}_middle`), clean: false, options: { create: true } }, signal);
    expect(await tableHashes(server, `${db}_middle`)).toEqual(atMiddle);
  });

  it('through the use-cases: an incremental complete in every target confirms the slot to its end, restores to any instant since its parent, and the next full drops the old slot', async () => {
    const db = `src_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t SELECT g, 'v' || g FROM generate_series(1, 50) g;`, [], db);
    const app = services();
    const repository = join(work, `repo_${++n}`);
    const backup = (kind: 'full' | 'incremental') =>
      app.runBackup.execute({ target: at(db, { capture: 'changes' }), repository, source: `Shop.${db}`, kind, compression: { codec: 'none' }, parallel: 1 }, signal);
    const full = (await backup('full')).manifest;
    const slot = (full.logPosition as LogPosition).slot as string;
    // The configured source names the slot, not the database.
    expect(slot).toMatch(new RegExp(`^dbbackup_shop_${db}_[a-z0-9]+$`));
    await server.query(`UPDATE public.t SET v = 'first' WHERE id <= 10; INSERT INTO public.t VALUES (100, 'first');`, [], db);
    const between = await instant();
    const atBetween = await tableHashes(server, db);
    await server.query(`DELETE FROM public.t WHERE id > 40; UPDATE public.t SET v = 'second' WHERE id <= 5;`, [], db);
    const inc = (await backup('incremental')).manifest;
    const end = inc.logPosition as LogPosition;
    expect(end.lsn).not.toBe((full.logPosition as LogPosition).lsn);
    expect(await confirmedFlush(slot)).toBe(end.lsn);
    expect(inc.restorable).toEqual({ from: full.consistentAt, to: inc.consistentAt });

    await app.restoreBackup.execute({ repository, backup: 'latest', at: between, target: at(`${db}_between`), clean: false, options: { create: true } }, signal);
    const restored = await tableHashes(server, `${db}_between`);
    expect(restored).toEqual(atBetween);
    expect(restored).not.toEqual(await tableHashes(server, db));

    const second = (await backup('full')).manifest;
    const secondSlot = (second.logPosition as LogPosition).slot as string;
    expect(secondSlot).not.toBe(slot);
    expect(await slotsOf(db)).toEqual([secondSlot]);
    // The chain carries on from the new full's slot.
    await server.query(`INSERT INTO public.t VALUES (200, 'third')`, [], db);
    const next = (await backup('incremental')).manifest;
    expect(next.parent).toBe(second.id);
    expect(await confirmedFlush(secondSlot)).toBe((next.logPosition as LogPosition).lsn);
  });

  it('a backup that fails in one of its targets (E_PARTIAL) confirms nothing and drops no slot; the chain carries on from what the other target holds', async () => {
    const db = `src_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t VALUES (1, 'a');`, [], db);
    const app = services();
    const folder = join(work, `repo_${++n}`);
    // An archive that already exists cannot be written again: a real failure of that one target.
    const archive = join(work, `repo_${n}.tar.gz`);
    const backup = (kind: 'full' | 'incremental', repository: string | string[]) =>
      app.runBackup.execute({ target: at(db, { capture: 'changes' }), repository, kind, compression: { codec: 'none' }, parallel: 1 }, signal);
    const full = (await backup('full', [folder, archive])).manifest;
    const slot = (full.logPosition as LogPosition).slot as string;
    const confirmed = await confirmedFlush(slot);

    await server.query(`INSERT INTO public.t VALUES (2, 'b')`, [], db);
    const partial = await backup('incremental', [folder, archive]).catch((e: unknown) => e);
    expect(isDbBackupError(partial, 'E_PARTIAL')).toBe(true);
    expect((partial as Error).message).toMatch(/1 of 2 targets.*E_TARGET_EXISTS/);
    expect(await confirmedFlush(slot)).toBe(confirmed);

    const fullAgain = await backup('full', [folder, archive]).catch((e: unknown) => e);
    expect(isDbBackupError(fullAgain, 'E_PARTIAL')).toBe(true);
    const slots = await slotsOf(db);
    expect(slots).toHaveLength(2);
    expect(slots).toContain(slot);
    expect(await confirmedFlush(slot)).toBe(confirmed);

    // Into the folder alone every target holds it: its newest backup (the partial full) is the parent, and confirmed.
    await server.query(`INSERT INTO public.t VALUES (3, 'c')`, [], db);
    const inc = (await backup('incremental', folder)).manifest;
    const newSlot = (inc.logPosition as LogPosition).slot as string;
    expect(newSlot).not.toBe(slot);
    expect(await confirmedFlush(newSlot)).toBe((inc.logPosition as LogPosition).lsn);
    expect(await slotsOf(db)).toEqual(slots);
    await app.restoreBackup.execute({ repository: folder, backup: 'latest', at: 'latest', target: at(`${db}_copy`), clean: false, options: { create: true } }, signal);
    expect(await tableHashes(server, `${db}_copy`)).toEqual(await tableHashes(server, db));
    // A full complete in every target drops the slots of every older full there, the one the partial run left included.
    const last = (await backup('full', folder)).manifest;
    expect(await slotsOf(db)).toEqual([(last.logPosition as LogPosition).slot]);
  });

  it('pgbench writing during the full and after it: restores at two instants and at the end equal the source recorded then', async () => {
    const db = `bench_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    server.bin('pgbench', ['-i', '-q', '-s', '1', db]);
    const bench = pgbench(db);
    await new Promise((r) => setTimeout(r, 500));
    const { manifest, copy } = await fullWithCapture(db);
    expect(manifest.warnings.join('\n')).toMatch(/public\.pgbench_history has no primary key/);
    const one = await bench.record();
    await new Promise((r) => setTimeout(r, 700));
    const two = await bench.record();
    await new Promise((r) => setTimeout(r, 700));
    await bench.stop();
    const end = await tableHashes(server, db);
    expect(two.hashes).not.toEqual(one.hashes);

    const { batch, parts } = await read(db, manifest.logPosition as LogPosition, manifest);
    expect(batch.changes).toBeGreaterThan(100);
    for (const [name, state] of [['a', one], ['b', two]] as const) {
      const target = `${copy}_${name}`;
      await copyDatabase(copy, target);
      await apply(target, parts.source(), state.at);
      expect(withoutKeyless(await tableHashes(server, target))).toEqual(withoutKeyless(state.hashes));
    }
    await apply(copy, parts.source());
    expect(await tableHashes(server, copy)).toEqual(end);
  });

  it('replicate segments hold the pgoutput records (format 2); a generation of format 1 then format 2 segments, and a compacted part of both, restore to the source state at an instant and at the end', async () => {
    await server.query('CREATE DATABASE segs');
    await server.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text, big text); CREATE TABLE public.u (k text PRIMARY KEY, n bigserial); INSERT INTO public.t SELECT g, 'v' || g, NULL FROM generate_series(1, 50) g;`, [], 'segs');
    const app = services();
    const repository = join(work, `repo_${++n}`);
    const { manifest } = await app.runBackup.execute({ target: at('segs', { capture: 'changes' }), repository, kind: 'full', compression: { codec: 'none' }, parallel: 2 }, signal);
    for (const copy of ['whole', 'mixed']) await app.restoreBackup.execute({ repository, backup: 'latest', target: at(copy), clean: false, options: { create: true } }, signal);

    const session = await connector.connect(at('segs'), 'backup');
    const capture = session.continuous!;
    try {
      const { identity } = await capture.start(undefined, undefined, signal);
      await capture.close();
      expect((await capture.start(manifest.logPosition as LogPosition, identity, signal)).resumable).toBe(true);
      // Waits until `n` commits wait to be taken (sequences appended), and takes them as one batch.
      let from = manifest.logPosition as LogPosition;
      const batch = async (n: number): Promise<LogBatch> => {
        for (;;) {
          await capture.poll(64 << 20, signal);
          const b = capture.take(from, 64 << 20);
          if (b && b.commits.length >= n) {
            expect(b.commits).toHaveLength(n);
            await capture.release(b.to);
            from = b.to;
            return b;
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      await server.query(String.raw`UPDATE public.t SET v = 'a' || id WHERE id <= 20; INSERT INTO public.u (k) VALUES ('x'), ('y');`, [], 'segs');
      await server.query(String.raw`INSERT INTO public.t VALUES (500, E'tab	here\nnl \\ "q"', repeat('x', 5000)); DELETE FROM public.t WHERE id > 45;`, [], 'segs');
      const first = await batch(2);
      const [{ ms }] = await server.query<{ ms: string }>('SELECT ceil(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms');
      const middle = new Date(Number(ms));
      const atMiddle = await tableHashes(server, 'segs');
      await new Promise((resolve) => setTimeout(resolve, 5));
      await server.query(`UPDATE public.t SET id = 1001 WHERE id = 1; UPDATE public.t SET v = 'toast kept' WHERE id = 500; TRUNCATE public.u; INSERT INTO public.u (k) VALUES ('z');`, [], 'segs');
      const second = await batch(1);
      const atEnd = await tableHashes(server, 'segs');

      // Format 2: records, not JSON lines. The stream describes each relation once (inside the first
      // transaction that uses it): a later segment's first commit starts with those Relation records.
      for (const c of [...first.commits, ...second.commits]) expect(c.payload[0]).not.toBe(0x7b);
      expect(String.fromCharCode(first.commits[0]!.payload[4]!)).toBe('B');
      expect(String.fromCharCode(second.commits[0]!.payload[4]!)).toBe('R');
      const older = await formatOneCommits(manifest, first.commits);
      await apply('whole', segment(manifest, older));
      await apply('whole', segment(manifest, second.commits));
      expect(await tableHashes(server, 'whole')).toEqual(atEnd);
      const [{ n }] = await server.query<{ n: string }>(`SELECT nextval('public.u_n_seq')::text AS n`, [], 'whole');
      expect(Number(n)).toBeGreaterThan(3);

      const compacted = segment(manifest, [...older, ...second.commits]);
      await apply('mixed', compacted, middle);
      expect(await tableHashes(server, 'mixed')).toEqual(atMiddle);
    } finally {
      await capture.close();
      await session.close();
    }
  }, 60_000);
});

/** pgbench writing until stop(); record() holds it (SIGSTOP) while the harness records a state. */
function pgbench(db: string) {
  const child = spawn(join(PG_BIN, 'pgbench'), ['-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres', '-n', '-c', '2', '-T', '300', db], { stdio: ['ignore', 'ignore', 'ignore'] 
});
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    /** Ends it (a transaction in flight is rolled back) and waits for it to exit. */
    async stop(): Promise<void> {
      child.kill('SIGKILL');
      await exited;
      // Its server sessions end (and roll back) when they see the closed socket.
      while ((await server.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgbench'`))[0]!.n > 0) await new Promise((r) => setTimeout(r, 50));
    },
    /** The committed state at an instant: writers held, the instant read, every table hashed, writers resumed. */
    async record(): Promise<{ at: Date; hashes: Record<string, { rows: number; hash: string }> }> {
      child.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 100));
      const at = await instant();
      const hashes = await tableHashes(server, db);
      child.kill('SIGCONT');
      return { at, hashes };
    },
  };
}

async function confirmedFlush(slot: string): Promise<string | null> {
  const [row] = await server.query<{ lsn: string | null }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return row ? row.lsn : null;
}

async function slotsOf(db: string): Promise<string[]> {
  return (await server.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots WHERE database = $1 ORDER BY slot_name', [db])).map((r) => r.slot_name);
}

function withoutKeyless(h: Record<string, unknown>): Record<string, unknown> {
  const { 'public.nokey': _, 'public.pgbench_history': __, ...rest } = h;
  return rest;
}

async function copyDatabase(from: string, to: string): Promise<void> {
  await server.query(`CREATE DATABASE ${to} TEMPLATE ${from}`);
}

