import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres-server.js';
import { type Replicator, startReplicate, stopReplicate } from '../helpers/replicate-process.js';
import { tempDir } from '../helpers/temp.js';
import { tableHashes } from '../integration/postgres/fixtures.js';

/**
 * `dbbackup replicate --db postgres` through the built CLI (`npm run build` first), against the
 * harness's real PostgreSQL (wal_level=logical): restores at instants between segments equal (a
 * content hash of every table) the source then, an instant being recorded only once replicate
 * reported every commit before it shipped; kill -9 and a restart lose nothing reported and apply
 * nothing twice; an idle source's slot is confirmed forward.
 */
let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];
const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });

function replicate(db: string, repo: string, ...extra: string[]): Replicator {
  return startReplicate(['--db', 'postgres', '--url', server.url(db), '--out', repo, '--interval', '200ms', ...extra], { cwd: dir.path, env, children });
}

/** `n` one-row transactions (an insert, every third an update of an older row, every fifth a delete) from a connection of their own. */
async function write(db: string, from: number, n: number): Promise<void> {
  const client = new pg.Client({ connectionString: server.url(db) });
  await client.connect();
  try {
    for (let i = from; i < from + n; i++) {
      await client.query('BEGIN');
      await client.query("INSERT INTO public.items (note, amount, at) VALUES ($1, $2, now())", [`item ${i}`, (i * 1.25).toFixed(2)]);
      if (i % 3 === 0) await client.query("UPDATE public.items SET note = note || ' *', amount = amount + 1 WHERE id = (SELECT min(id) FROM public.items WHERE id > $1 - 40)", [i]);
      if (i % 5 === 0) await client.query('DELETE FROM public.items WHERE id = (SELECT min(id) FROM public.items)');
      await client.query('INSERT INTO public.counters (k, v) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET v = counters.v + 1', [i % 7]);
      await client.query('COMMIT');
    }
  } finally {
    await client.end();
  }
}

/** A hash of every table's rows (in key order, as text): equal content, equal hash. */
async function contentHash(db: string): Promise<string> {
  const h = createHash('sha256');
  for (const t of ['items', 'counters']) {
    const rows = await server.query<{ r: string }>(`SELECT t::text AS r FROM public.${t} t ORDER BY 1`, [], db);
    h.update(`${t}\n${rows.map((r) => r.r).join('\n')}\n`);
  }
  return h.digest('hex');
}

async function restoreAt(repo: string, at: string, db: string): Promise<{ point: string }> {
  const r = await cli('restore', '--from', repo, '--at', at, '--db', 'postgres', '--url', server.url(db), '--create', '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { point: string };
}

async function createSource(db: string): Promise<void> {
  await server.query(`CREATE DATABASE ${db}`);
  await server.query(
    `CREATE TABLE public.items (id serial PRIMARY KEY, note text, amount numeric(12,2), at timestamptz);
     CREATE TABLE public.counters (k int PRIMARY KEY, v bigint);
     INSERT INTO public.items (note, amount, at) VALUES ('first', 1.5, '2026-01-01T00:00:00.123456Z');`,
    [],
    db,
  );
}

/**
 * The WAL position after every commit so far, once flushed: the harness's server runs with
 * synchronous_commit = off, and the server decodes only flushed WAL; a synchronous commit flushes
 * all before it.
 */
async function flushedEnd(): Promise<string> {
  const client = await server.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL synchronous_commit = on');
    await client.query(`SELECT pg_catalog.pg_logical_emit_message(true, 'test', '')`);
    await client.query('COMMIT');
    return ((await client.query('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0] as { lsn: string }).lsn;
  } finally {
    await client.end();
  }
}

const stop = stopReplicate;

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-e2e-pgrepl-')]);
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), DBBACKUP_LOG_FILE: 'off', PGPASSWORD: undefined, PGHOST: undefined, PGPORT: undefined, PGUSER: undefined, PGDATABASE: undefined };
}, 60_000);

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

afterAll(async () => {
  await server?.stop();
  await dir?.cleanup();
});

describe('dbbackup replicate --db postgres (built CLI)', () => {
  it('streams the slot under a writer; restore --at each instant equals the source then', async () => {
    await createSource('shop');
    const r = replicate('shop', 'repo', '--compaction', '1s,3s');
    await r.waitFor((e) => e.event === 'generation');
    const states = [{ at: new Date().toISOString(), hash: await contentHash('shop') }];
    let next = 1;
    for (let burst = 1; burst <= 4; burst++) {
      await write('shop', next, 150);
      next += 150;
      // Every commit of the burst is reported shipped before the instant is recorded.
      await r.waitFor(() => r.shipped() >= burst * 150);
      states.push({ at: new Date().toISOString(), hash: await contentHash('shop') });
    }
    await stop(r);
    for (const [i, s] of states.entries()) {
      const out = await restoreAt('repo', s.at, `shop_at_${i}`);
      expect(Date.parse(out.point)).toBeLessThanOrEqual(Date.parse(s.at));
      expect(await contentHash(`shop_at_${i}`), `state at ${s.at}`).toBe(s.hash);
    }
    expect(new Set(states.map((s) => s.hash)).size).toBe(states.length);
    // Sequences come back at least at the values in use: an insert into the restored copy works.
    await restoreAt('repo', 'latest', 'shop_latest');
    expect(await contentHash('shop_latest')).toBe(states.at(-1)!.hash);
    await server.query("INSERT INTO public.items (note) VALUES ('after restore')", [], 'shop_latest');
  }, 180_000);

  it('kill -9 then a restart resumes the slot: nothing reported shipped is lost, nothing is applied twice', async () => {
    await createSource('k');
    let next = 1;
    const reported: { through: string; commits: number }[] = [];
    let total = 0;
    for (let round = 0; round < 3; round++) {
      const r = replicate('k', 'krepo');
      await r.waitFor((e) => e.event === (round === 0 ? 'generation' : 'resumed'));
      // Writes while replicate runs, then a kill at some point after a segment shipped.
      const writing = write('k', next, 100);
      next += 100;
      await r.waitFor((e) => e.event === 'segment');
      r.child.kill('SIGKILL');
      await r.exited;
      await writing;
      total += r.shipped();
      const last = r.events.filter((e) => e.event === 'segment').at(-1)!;
      reported.push({ through: String(last.through), commits: total });
    }
    const r = replicate('k', 'krepo');
    await r.waitFor((e) => e.event === 'resumed');
    await write('k', next, 10);
    const final = await contentHash('k');
    // The slot is confirmed only for what is listed in the repository (or, idle, past what was all shipped).
    const end = await flushedEnd();
    const confirmed = async () => (await server.query<{ ok: boolean }>(`SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE database = 'k'`, [end]))[0]?.ok === true;
    while (!(await confirmed())) await new Promise((resolve) => setTimeout(resolve, 100));
    await stop(r);
    // Every commit shipped once: a commit applied twice would count twice in counters, one lost would be missing.
    await restoreAt('krepo', 'latest', 'k_latest');
    expect(await contentHash('k_latest')).toBe(final);
    const applied = async (db: string) => Number((await server.query<{ n: string }>('SELECT coalesce(sum(v), 0)::text AS n FROM public.counters', [], db))[0]!.n);
    expect(await applied('k_latest')).toBe(next - 1 + 10);
    for (const [i, rep] of reported.entries()) {
      await restoreAt('krepo', rep.through, `k_at_${i}`);
      expect(await applied(`k_at_${i}`)).toBeGreaterThanOrEqual(rep.commits);
    }
  }, 240_000);

  it('a table changing shape under replicate ends the generation; the next one starts with a snapshot, the old slot dropped', async () => {
    await createSource('ddl');
    const r = replicate('ddl', 'drepo');
    const first = await r.waitFor((e) => e.event === 'generation');
    await write('ddl', 1, 20);
    await r.waitFor(() => r.shipped() >= 20);
    const before = { at: new Date().toISOString(), hash: await contentHash('ddl') };
    await server.query("ALTER TABLE public.items ADD COLUMN extra text DEFAULT 'x'; INSERT INTO public.items (note, extra) VALUES ('new shape', 'y')", [], 'ddl');
    const second = await r.waitFor((e) => e.event === 'generation' && e.generation !== first.generation);
    expect(String(second.reason)).toMatch(/changed shape/);
    await write('ddl', 21, 10);
    const final = await contentHash('ddl');
    const end = await flushedEnd();
    const slots = async () => server.query<{ slot_name: string; ok: boolean }>(`SELECT slot_name, confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE database = 'ddl'`, [end]);
    while (!(await slots()).every((s) => s.ok)) await new Promise((resolve) => setTimeout(resolve, 100));
    await stop(r);
    expect(await slots()).toHaveLength(1);
    await restoreAt('drepo', 'latest', 'ddl_latest');
    expect(await contentHash('ddl_latest')).toBe(final);
    await restoreAt('drepo', before.at, 'ddl_before');
    expect(await contentHash('ddl_before')).toBe(before.hash);
  }, 120_000);

  it('replicate --capture-ddl (a plugin option declared for replicate): a table changing shape stays in the generation and replays in order', async () => {
    await createSource('cddl');
    const r = replicate('cddl', 'crepo', '--capture-ddl');
    const first = await r.waitFor((e) => e.event === 'generation');
    await write('cddl', 1, 20);
    await r.waitFor(() => r.shipped() >= 20);
    const before = { at: new Date().toISOString(), hash: await contentHash('cddl') };
    await server.query("ALTER TABLE public.items ADD COLUMN extra text DEFAULT 'x'; INSERT INTO public.items (note, extra) VALUES ('new shape', 'y')", [], 'cddl');
    await write('cddl', 21, 10);
    await r.waitFor(() => r.shipped() >= 31);
    // The DDL log is trimmed once the slot consumed its row (replicate tries every 10 s; a checkpoint
    // logs the running transactions the slot's catalog_xmin moves by, a write moves the stream).
    const logged = async () => (await server.query<{ n: number }>('SELECT count(*)::int AS n FROM dbbackup.ddl_log', [], 'cddl'))[0]!.n;
    expect(await logged()).toBe(1);
    let next = 31;
    while ((await logged()) > 0) {
      await server.query('CHECKPOINT');
      await write('cddl', next++, 1);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const final = await contentHash('cddl');
    // Everything written is shipped (the slot is confirmed only past what is listed in the repository).
    const end = await flushedEnd();
    const confirmed = async () => (await server.query<{ ok: boolean }>(`SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE database = 'cddl'`, [end]))[0]?.ok === true;
    while (!(await confirmed())) await new Promise((resolve) => setTimeout(resolve, 100));
    await stop(r);
    // One generation throughout: the DDL was logged and shipped, not a reason to start over.
    expect(r.events.filter((e) => e.event === 'generation').map((e) => e.generation)).toEqual([first.generation]);
    expect((await server.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_catalog.pg_event_trigger WHERE evtname LIKE 'dbbackup%'", [], 'cddl'))[0]!.n).toBeGreaterThan(0);
    await restoreAt('crepo', 'latest', 'cddl_latest');
    expect(await contentHash('cddl_latest')).toBe(final);
    // The trimming's DELETE reached the copy's DDL log too.
    expect((await server.query<{ n: number }>('SELECT count(*)::int AS n FROM dbbackup.ddl_log', [], 'cddl_latest'))[0]!.n).toBe(0);
    await restoreAt('crepo', before.at, 'cddl_before');
    expect(await contentHash('cddl_before')).toBe(before.hash);
  }, 120_000);

  it('replicate refuses an engine option not declared for it', async () => {
    const r = await cli('replicate', '--db', 'postgres', '--url', server.url('postgres'), '--out', 'nrepo', '--option', 'strict=true');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not an option of replicate for the postgres engine; its options: sslmode, ssl-mode, ssl-ca, ssl-cert, ssl-key, capture-ddl, replica-identity-full/);
  });

  it('an idle source: the slot is confirmed forward (no WAL retained for it)', async () => {
    await createSource('idle');
    const r = replicate('idle', 'irepo');
    await r.waitFor((e) => e.event === 'generation');
    const slot = async () => (await server.query<{ lsn: string }>(`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE database = 'idle'`))[0]!.lsn;
    const before = await slot();
    // WAL that decodes to nothing published (another database's writes), then wait for the slot to move past it.
    await server.query('CREATE TABLE IF NOT EXISTS public.elsewhere (x int); INSERT INTO public.elsewhere SELECT generate_series(1, 1000)', [], 'postgres');
    const [{ lsn: now }] = (await server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')) as [{ lsn: string }];
    const reached = async () => (await server.query<{ ok: boolean }>('SELECT $1::pg_lsn >= $2::pg_lsn AS ok', [await slot(), now]))[0]!.ok;
    while (!(await reached())) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await slot()).not.toBe(before);
    expect(r.shipped()).toBe(0);
    await stop(r);
  }, 120_000);
});

describe('replicate and tables without a primary key or replica identity', () => {
  /** A source with a keyed table and a keyless one holding duplicate rows, NULLs and columns without an equality operator (json, point). */
  async function keylessSource(db: string): Promise<void> {
    await createSource(db);
    await server.query(
      `CREATE TABLE public.bag (a int, b text, j json, p point);
       INSERT INTO public.bag VALUES (1, 'same', '{"k": 1}', '(1,1)'), (1, 'same', '{"k": 1}', '(1,1)'), (2, NULL, NULL, NULL), (3, 'x', '[1, 2]', '(0,0)');`,
      [],
      db,
    );
  }

  const slotsOf = async (db: string) => server.query<{ slot_name: string }>(`SELECT slot_name FROM pg_replication_slots WHERE database = $1`, [db]);

  it('without --replica-identity-full: refused before anything is created (E_KEYLESS_TABLES, exit 2), naming the table and the fix', async () => {
    await keylessSource('kl_refused');
    const r = await cli('replicate', '--db', 'postgres', '--url', server.url('kl_refused'), '--out', 'kl_refused_repo');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^error E_KEYLESS_TABLES: replicate cannot follow public\.bag: no primary key or replica identity/);
    expect(r.stderr).toMatch(/Give it a primary key, or run replicate with --replica-identity-full/);
    // The source is as it was: no slot, no publication, the table's replica identity untouched; the repository holds no generation.
    expect(await slotsOf('kl_refused')).toEqual([]);
    expect(await server.query(`SELECT pubname FROM pg_publication`, [], 'kl_refused')).toEqual([]);
    expect(await server.query(`SELECT relreplident FROM pg_class WHERE relname = 'bag'`, [], 'kl_refused')).toEqual([{ relreplident: 'd' }]);
    const stored = await readdir(join(dir.path, 'kl_refused_repo'), { recursive: true }).catch(() => [] as string[]);
    expect(stored.filter((f) => f.endsWith('manifest.json'))).toEqual([]);
  }, 60_000);

  it('with --replica-identity-full: followed by whole-row match (one of identical rows, NULLs, json and point columns); restores at instants equal the source', async () => {
    await keylessSource('kl_full');
    const r = replicate('kl_full', 'kl_full_repo', '--replica-identity-full');
    await r.waitFor((e) => e.event === 'generation');
    expect(await server.query(`SELECT relreplident FROM pg_class WHERE relname = 'bag'`, [], 'kl_full')).toEqual([{ relreplident: 'f' }]);
    const states = [{ at: new Date().toISOString(), hash: await tableHashes(server, 'kl_full') }];
    const steps = [
      // One of the two identical rows changes; the other stays.
      `UPDATE public.bag SET b = 'changed' WHERE ctid = (SELECT min(ctid) FROM public.bag WHERE a = 1)`,
      `UPDATE public.bag SET b = 'was null', p = '(5,5)' WHERE a = 2`,
      `UPDATE public.bag SET j = '{"k": 2}' WHERE a = 3; INSERT INTO public.bag VALUES (1, 'same', '{"k": 1}', '(1,1)')`,
      // Two identical rows left (a = 1, 'same'): deleting one leaves one.
      `DELETE FROM public.bag WHERE ctid = (SELECT max(ctid) FROM public.bag WHERE a = 1 AND b = 'same')`,
      `DELETE FROM public.bag WHERE b IS NOT DISTINCT FROM 'was null'`,
    ];
    for (const [i, sql] of steps.entries()) {
      await server.query(sql, [], 'kl_full');
      await r.waitFor(() => r.shipped() >= i + 1);
      states.push({ at: new Date().toISOString(), hash: await tableHashes(server, 'kl_full') });
    }
    await stop(r);
    expect(new Set(states.map((s) => JSON.stringify(s.hash))).size).toBe(states.length);
    for (const [i, s] of states.entries()) {
      await restoreAt('kl_full_repo', s.at, `kl_full_at_${i}`);
      expect(await tableHashes(server, `kl_full_at_${i}`), `state ${i}`).toEqual(s.hash);
    }
  }, 180_000);

  it('--capture-ddl: a keyless table created under the stream ends the generation; the next snapshot refuses it without consent, follows it with --replica-identity-full', async () => {
    for (const consent of [false, true]) {
      const db = consent ? 'kl_ddl_yes' : 'kl_ddl_no';
      await createSource(db);
      const r = replicate(db, `${db}_repo`, '--capture-ddl', ...(consent ? ['--replica-identity-full'] : []));
      const first = await r.waitFor((e) => e.event === 'generation');
      await server.query(`CREATE TABLE public.late (a int, b text); INSERT INTO public.late VALUES (1, 'one'), (1, 'one')`, [], db);
      if (!consent) {
        expect(await r.exited).toBe(2);
        const last = r.stdout().trim().split('\n').at(-1)!;
        expect(JSON.parse(last)).toMatchObject({ ok: false, error: { code: 'E_KEYLESS_TABLES', message: expect.stringMatching(/replicate cannot follow public\.late/), details: { tables: ['public.late'] } } });
        continue;
      }
      const second = await r.waitFor((e) => e.event === 'generation' && e.generation !== first.generation);
      expect(String(second.reason)).toMatch(/public\.late has no primary key or replica identity/);
      await server.query(`UPDATE public.late SET b = 'uno' WHERE ctid = (SELECT min(ctid) FROM public.late); INSERT INTO public.items (note) VALUES ('after')`, [], db);
      // A segment of the new generation (the old one shipped the CREATE TABLE's DDL log row before it ended).
      await r.waitFor((e) => e.event === 'segment' && r.events.indexOf(e) > r.events.indexOf(second));
      await stop(r);
      await restoreAt(`${db}_repo`, 'latest', `${db}_latest`);
      // The user's tables (the DDL log itself is dbbackup's, not restored as data).
      const mine = async (d: string) => Object.fromEntries(Object.entries(await tableHashes(server, d)).filter(([t]) => t.startsWith('public.')));
      expect(Object.keys(await mine(db))).toEqual(['public.counters', 'public.items', 'public.late']);
      expect(await mine(`${db}_latest`)).toEqual(await mine(db));
    }
  }, 180_000);
});
