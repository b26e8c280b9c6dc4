import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresConnector } from '../../../src/adapters/connectors/postgres/postgres-connector.js';
import type { ConnectionTarget } from '../../../src/application/ports/connection-target.js';
import { PG_BIN, type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { tableHashes } from './fixtures.js';
import { captureUseCases } from './use-cases.js';

let server: PostgresServer;
let work: string;
let n = 0;
const signal = new AbortController().signal;
// Small parts, so that folds and tails span several.
const connector = new PostgresConnector({ partSize: 16 << 10 });

beforeAll(async () => {
  server = await startPostgres();
  work = await mkdtemp(join(tmpdir(), 'dbb-pgdiff-'));
});
afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

const at = (database: string, options: Record<string, unknown> = {}): ConnectionTarget => ({ engine: 'postgres', host: '127.0.0.1', port: server.port, user: 'postgres', database, options });

function chainOf(db: string) {
  const { runBackup, restoreBackup } = captureUseCases(connector);
  const repository = join(work, `repo_${++n}`);
  return {
    backup: async (kind: 'full' | 'incremental' | 'differential') =>
      (await runBackup.execute({ target: at(db, { capture: 'changes' }), repository, kind, compression: { codec: 'none' }, parallel: 1 }, signal)).manifest,
    /** Restores into a new database; returns its state and the ids of the links applied. */
    restore: async (target: string, options: { at?: Date; backup?: string } = {}) => {
      const result = await restoreBackup.execute(
        { repository, backup: options.backup ?? 'latest', ...(options.at ? { at: options.at } : {}), target: at(target), clean: false, options: { create: true } },
        signal,
      );
      return { state: await stateOf(target), links: result.chain?.links.map((l) => l.id) ?? [] };
    },
  };
}

/** Every table's row count and content hash, and every sequence's value. */
async function stateOf(db: string): Promise<Record<string, unknown>> {
  const tables = await tableHashes(server, db);
  const seqs = await server.query<{ name: string }>(`SELECT format('%I.%I', schemaname, sequencename) AS name FROM pg_sequences ORDER BY 1`, [], db);
  const sequences: Record<string, string> = {};
  for (const { name } of seqs) {
    const [row] = await server.query<{ v: string }>(`SELECT last_value::text || '/' || is_called::text AS v FROM ${name}`, [], db);
    sequences[name] = row!.v;
  }
  return { tables, sequences };
}

/** The server's time now, rounded up to the next millisecond, then a pause so that later commits are later. */
async function instant(): Promise<Date> {
  const [row] = await server.query<{ ms: string }>("SELECT ceil(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms");
  await new Promise((r) => setTimeout(r, 5));
  return new Date(Number(row!.ms));
}

const SCHEMA = String.raw`
CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL, blob text, price numeric);
CREATE TABLE public.uq (id int PRIMARY KEY, u int NOT NULL UNIQUE);
CREATE TABLE public.parent (id int PRIMARY KEY);
CREATE TABLE public.child (id int PRIMARY KEY, parent int NOT NULL REFERENCES public.parent ON DELETE CASCADE);
CREATE TABLE public.nokey (a int, b text);
CREATE TABLE public.full_ident (a int, b json);
ALTER TABLE public.full_ident REPLICA IDENTITY FULL;
CREATE TABLE public.trunc (id serial PRIMARY KEY, v text);
CREATE SEQUENCE public.counter;
INSERT INTO public.items SELECT g, 'item ' || g, CASE WHEN g <= 3 THEN (SELECT string_agg(md5(i::text || g), '') FROM generate_series(1, 4000) i) END, g * 1.5 FROM generate_series(1, 2000) g;
INSERT INTO public.uq SELECT g, g FROM generate_series(1, 10) g;
INSERT INTO public.parent SELECT g FROM generate_series(1, 20) g;
INSERT INTO public.child SELECT g, g FROM generate_series(1, 20) g;
INSERT INTO public.nokey VALUES (1, 'one'), (1, 'one');
INSERT INTO public.full_ident VALUES (1, '{"a": 1}'), (1, '{"a": 1}'), (2, NULL);
INSERT INTO public.trunc (v) SELECT 'x' FROM generate_series(1, 10);
`;

describe('PostgreSQL differential backups (net change since the full)', () => {
  it('a differential after incrementals restores exactly at its end, at instants inside its tail, and (through the incrementals) before it; TRUNCATE, keyless and REPLICA IDENTITY FULL tables, unique swaps, TOAST-unchanged key changes, sequences', async () => {
    const db = `diff_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    await server.query(SCHEMA, [], db);
    const chain = chainOf(db);
    const full = await chain.backup('full');

    await server.query(
      String.raw`INSERT INTO public.items SELECT g, 'new ' || g, NULL, g FROM generate_series(2001, 2600) g;
      UPDATE public.items SET price = price * 2 WHERE id % 7 = 0;
      DELETE FROM public.items WHERE id BETWEEN 100 AND 150;
      UPDATE public.items SET id = id + 100000 WHERE id BETWEEN 200 AND 210;
      INSERT INTO public.nokey VALUES (2, 'two');
      DELETE FROM public.parent WHERE id = 20;
      UPDATE public.items SET price = price + 1 WHERE id <= 500; UPDATE public.items SET price = price + 1 WHERE id <= 500; UPDATE public.items SET price = price + 1 WHERE id <= 500;
      UPDATE public.items SET price = price + 1 WHERE id <= 500; UPDATE public.items SET price = price + 1 WHERE id <= 500;
      SELECT nextval('public.counter') FROM generate_series(1, 5);`,
      [],
      db,
    );
    const inc1 = await chain.backup('incremental');
    const m1 = await instant();
    const atM1 = await stateOf(db);

    await server.query(
      String.raw`TRUNCATE public.trunc RESTART IDENTITY; INSERT INTO public.trunc (v) VALUES ('after'), ('truncate');
      BEGIN; UPDATE public.uq SET u = 100 WHERE id = 1; UPDATE public.uq SET u = 1 WHERE id = 2; UPDATE public.uq SET u = 2 WHERE id = 1; COMMIT;
      UPDATE public.full_ident SET b = '{"a": 2}' WHERE ctid = (SELECT ctid FROM public.full_ident WHERE a = 1 LIMIT 1);
      INSERT INTO public.full_ident VALUES (3, '[]');
      DELETE FROM public.items WHERE id BETWEEN 2001 AND 2100;
      UPDATE public.items SET name = 'renamed' WHERE id = 1;
      UPDATE public.items SET id = 50002 WHERE id = 3; UPDATE public.items SET name = 'moved' WHERE id = 50002; UPDATE public.items SET price = 7 WHERE id BETWEEN 400 AND 420;
      INSERT INTO public.parent VALUES (20); INSERT INTO public.child VALUES (21, 20);`,
      [],
      db,
    );
    const inc2 = await chain.backup('incremental');
    const m2 = await instant();
    const atM2 = await stateOf(db);

    // The tail: a key change of a row known only in part (its TOASTed blob left out) stops the fold of items.
    await server.query(`UPDATE public.items SET id = 50001 WHERE id = 2; UPDATE public.items SET price = 0 WHERE id BETWEEN 300 AND 320;`, [], db);
    const mTail = await instant();
    const atTail = await stateOf(db);
    await server.query(
      String.raw`UPDATE public.items SET name = 'late' WHERE id = 50001; TRUNCATE public.child; INSERT INTO public.child VALUES (1, 1);
      INSERT INTO public.nokey VALUES (3, 'three'); SELECT nextval('public.counter');`,
      [],
      db,
    );
    const diff = await chain.backup('differential');
    const atDiff = await stateOf(db);
    expect(diff).toMatchObject({ kind: 'differential', parent: full.id, baseFull: full.id });
    expect(diff.restorable).toEqual({ from: inc2.restorable!.to, to: diff.consistentAt });
    expect((diff.engineInfo.differential as { folded: string[] }).folded).toEqual([inc1.id, inc2.id]);
    // Net: each changed row once, not every change the incrementals hold.
    expect((diff.engineInfo.differential as { netChanges: number }).netChanges).toBeLessThan(((inc1.engineInfo.changes as number) + (inc2.engineInfo.changes as number)) / 2);

    await server.query(`UPDATE public.items SET price = -1 WHERE id < 50; INSERT INTO public.uq VALUES (11, 11);`, [], db);
    const inc3 = await chain.backup('incremental');
    expect(inc3.parent).toBe(diff.id);
    const atInc3 = await stateOf(db);

    const latest = await chain.restore(`${db}_latest`);
    expect(latest.links).toEqual([full.id, diff.id, inc3.id]);
    expect(latest.state).toEqual(atInc3);
    const end = await chain.restore(`${db}_diff`, { backup: diff.id });
    expect(end.links).toEqual([full.id, diff.id]);
    expect(end.state).toEqual(atDiff);
    const tail = await chain.restore(`${db}_tail`, { at: mTail });
    expect(tail.links).toEqual([full.id, diff.id]);
    // Sequences come back at the backup's end (logical decoding carries none), tables as of the instant.
    expect((tail.state as { tables: unknown }).tables).toEqual((atTail as { tables: unknown }).tables);
    const second = await chain.restore(`${db}_m2`, { at: m2 });
    expect((second.state as { tables: unknown }).tables).toEqual((atM2 as { tables: unknown }).tables);
    const first = await chain.restore(`${db}_m1`, { at: m1 });
    // Before the differential's range: through the incrementals (m1 falls inside the second's range).
    expect(first.links).toEqual([full.id, inc1.id, inc2.id]);
    expect((first.state as { tables: unknown }).tables).toEqual((atM1 as { tables: unknown }).tables);

    // A second differential folds the first one and the incremental after it.
    await server.query(`DELETE FROM public.items WHERE id > 2500; UPDATE public.uq SET u = u + 1000;`, [], db);
    const diff2 = await chain.backup('differential');
    expect((diff2.engineInfo.differential as { folded: string[] }).folded).toEqual([diff.id, inc3.id]);
    const again = await chain.restore(`${db}_diff2`);
    expect(again.links).toEqual([full.id, diff2.id]);
    expect(again.state).toEqual(await stateOf(db));
  });

  it('pgbench writing during every backup: a differential chain restores the recorded states at its end and at instants between', async () => {
    const db = `bench_${++n}`;
    await server.query(`CREATE DATABASE ${db}`);
    server.bin('pgbench', ['-i', '-q', '-s', '1', db]);
    const chain = chainOf(db);
    const bench = pgbench(db);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const full = await chain.backup('full');
      await new Promise((r) => setTimeout(r, 300));
      await chain.backup('incremental');
      const one = await bench.record();
      await new Promise((r) => setTimeout(r, 300));
      await chain.backup('incremental');
      await new Promise((r) => setTimeout(r, 300));
      const two = await bench.record();
      await new Promise((r) => setTimeout(r, 300));
      const diff = await chain.backup('differential');
      await new Promise((r) => setTimeout(r, 300));
      await bench.stop();
      const last = await chain.backup('incremental');
      const end = await stateOf(db);

      const latest = await chain.restore(`${db}_latest`);
      expect(latest.links).toEqual([full.id, diff.id, last.id]);
      expect(latest.state).toEqual(end);
      for (const [name, state] of [['one', one], ['two', two]] as const) {
        const restored = await chain.restore(`${db}_${name}`, { at: state.at });
        // pgbench_history has no key: it is read whole at each backup, so between two it is as of the earlier.
        expect(withoutHistory(await tableHashes(server, `${db}_${name}`))).toEqual(withoutHistory(state.hashes));
        expect(restored.links[0]).toBe(full.id);
      }
      expect((two.hashes as unknown)).not.toEqual(one.hashes);
    } finally {
      await bench.stop();
    }
  });
});

/** pgbench writing until stop(); record() holds it (SIGSTOP) while the harness records a state. */
function pgbench(db: string) {
  const child = spawn(join(PG_BIN, 'pgbench'), ['-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres', '-n', '-c', '2', '-T', '300', db], { stdio: ['ignore', 'ignore', 'ignore'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let stopped = false;
  return {
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      child.kill('SIGKILL');
      await exited;
      while ((await server.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgbench'`))[0]!.n > 0) await new Promise((r) => setTimeout(r, 50));
    },
    async record(): Promise<{ at: Date; hashes: Record<string, { rows: number; hash: string }> }> {
      child.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 100));
      const when = await instant();
      const hashes = await tableHashes(server, db);
      child.kill('SIGCONT');
      return { at: when, hashes };
    },
  };
}

function withoutHistory(h: Record<string, unknown>): Record<string, unknown> {
  const { 'public.pgbench_history': _, ...rest } = h;
  return rest;
}
