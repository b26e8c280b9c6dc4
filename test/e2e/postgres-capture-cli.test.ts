import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres-server.js';
import { tempDir } from '../helpers/temp.js';

let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-e2e-pgcap-')]);
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), PGPASSWORD: undefined, PGHOST: undefined, PGPORT: undefined, PGUSER: undefined, PGDATABASE: undefined };
  await server.query('CREATE DATABASE shop');
  await server.query('CREATE TABLE public.orders (id int PRIMARY KEY, total numeric); CREATE TABLE public.log (line text); INSERT INTO public.orders VALUES (1, 9.5);', [], 'shop');
});

afterAll(async () => {
  await server?.stop();
  await dir?.cleanup();
});

const cli = (args: string[]) => runCli(args, { env, cwd: dir.path });

describe('dbbackup backup --capture changes (PostgreSQL)', () => {
  it('creates the publication and a slot, and records them as the backup position', async () => {
    const b = await cli(['backup', '--db', 'postgres', '--url', server.url('shop'), '--out', 'backups', '--capture', 'changes', '--json']);
    expect(b.code).toBe(0);
    const { manifest } = JSON.parse(b.stdout) as { manifest: { logPosition: Record<string, string>; warnings: string[] } };
    expect(manifest.logPosition).toMatchObject({ publication: 'dbbackup_shop', slot: expect.stringMatching(/^dbbackup_shop_[a-z0-9]+$/), lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });
    expect(manifest.warnings.join('\n')).toMatch(/public\.log has no primary key/);
    expect(await server.query('SELECT slot_name, plugin FROM pg_replication_slots')).toEqual([{ slot_name: manifest.logPosition.slot, plugin: 'pgoutput' }]);
    expect(await server.query(`SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = 'dbbackup_shop'`, [], 'shop')).toEqual([{ schemaname: 'public', tablename: 'orders' }]);
    // Writes to the table left out of the publication still work.
    await server.query(`INSERT INTO public.log VALUES ('x'); UPDATE public.log SET line = 'y'; DELETE FROM public.log;`, [], 'shop');

    const bad = await cli(['backup', '--db', 'postgres', '--url', server.url('shop'), '--out', 'backups', '--capture', 'everything']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--capture takes "changes"/);
  });

  it('an incremental confirms the slot to its end, the next full drops the old slot, and restore --at reaches an instant between two backups', async () => {
    const backup = async (...args: string[]) => {
      const r = await cli(['backup', '--db', 'postgres', '--url', server.url('shop'), '--out', 'chain', '--capture', 'changes', '--json', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { manifest: { id: string; logPosition: Record<string, string>; restorable: unknown; consistentAt: string } }).manifest;
    };
    const orders = async (db: string) => (await server.query<{ id: number; total: string }>('SELECT id, total::text FROM public.orders ORDER BY id', [], db)).map((r) => `${r.id}:${r.total}`);
    const full = await backup();
    await server.query('INSERT INTO public.orders VALUES (2, 20); UPDATE public.orders SET total = 10 WHERE id = 1;', [], 'shop');
    const [row] = await server.query<{ at: string }>("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS at");
    const between = new Date(Date.parse(row!.at) + 1).toISOString();
    await new Promise((r) => setTimeout(r, 5));
    const atBetween = await orders('shop');
    await server.query('DELETE FROM public.orders WHERE id = 1; INSERT INTO public.orders VALUES (3, 30);', [], 'shop');
    const inc = await backup('--type', 'incremental');
    expect(inc.logPosition.slot).toBe(full.logPosition.slot);
    expect(inc.restorable).toEqual({ from: full.consistentAt, to: inc.consistentAt });
    const [slot] = await server.query<{ lsn: string }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [full.logPosition.slot]);
    expect(slot!.lsn).toBe(inc.logPosition.lsn);

    const r = await cli(['restore', '--from', 'chain', '--at', between, '--db', 'postgres', '--url', server.url('shop_between'), '--create']);
    expect(r.code, r.stderr).toBe(0);
    expect(await orders('shop_between')).toEqual(atBetween);
    expect(atBetween).not.toEqual(await orders('shop'));

    const second = await backup();
    const slots = await server.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots ORDER BY 1');
    // The first test's full (another repository) keeps its slot; this repository's older full lost its own.
    expect(slots.map((s) => s.slot_name)).not.toContain(full.logPosition.slot);
    expect(slots.map((s) => s.slot_name)).toContain(second.logPosition.slot);
  });

  it('--type differential after incrementals: one link after the full restores the source; restore --at before it goes through the incrementals', async () => {
    await server.query('CREATE DATABASE diffs');
    await server.query('CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t SELECT g, $$v$$ || g FROM generate_series(1, 200) g;', [], 'diffs');
    const backup = async (...args: string[]) => {
      const r = await cli(['backup', '--db', 'postgres', '--url', server.url('diffs'), '--out', 'diffs', '--json', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { manifest: { id: string; kind: string; parent: string; restorable: { from: string; to: string } } }).manifest;
    };
    const rows = async (db: string) => (await server.query<{ r: string }>('SELECT string_agg(id || $$=$$ || v, $$,$$ ORDER BY id) AS r FROM public.t', [], db))[0]!.r;
    const full = await backup('--capture', 'changes');
    await server.query('UPDATE public.t SET v = $$one$$ WHERE id <= 50; DELETE FROM public.t WHERE id > 190;', [], 'diffs');
    const inc = await backup('--type', 'incremental');
    const afterInc = await rows('diffs');
    await new Promise((r) => setTimeout(r, 20));
    await server.query('UPDATE public.t SET v = $$two$$ WHERE id <= 100; INSERT INTO public.t VALUES (500, $$new$$);', [], 'diffs');
    const diff = await backup('--type', 'differential');
    expect(diff).toMatchObject({ kind: 'differential', parent: full.id });
    expect(diff.restorable.from).toBe(inc.restorable.to);

    const latest = await cli(['restore', '--from', 'diffs', '--db', 'postgres', '--url', server.url('diffs_latest'), '--create', '--json']);
    expect(latest.code, latest.stderr).toBe(0);
    expect((JSON.parse(latest.stdout) as { links: string[] }).links).toEqual([full.id, diff.id]);
    expect(await rows('diffs_latest')).toBe(await rows('diffs'));
    const before = await cli(['restore', '--from', 'diffs', '--at', inc.restorable.to, '--db', 'postgres', '--url', server.url('diffs_inc'), '--create']);
    expect(before.code, before.stderr).toBe(0);
    expect(await rows('diffs_inc')).toBe(afterInc);
  });
});
