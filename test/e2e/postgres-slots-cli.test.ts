import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres-server.js';
import { tempDir } from '../helpers/temp.js';

let server: PostgresServer;
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  [server, dir] = await Promise.all([startPostgres(), tempDir('dbb-e2e-pgslots-')]);
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), PGPASSWORD: undefined, PGHOST: undefined, PGPORT: undefined, PGUSER: undefined, PGDATABASE: undefined };
  await server.query('CREATE DATABASE shop');
  await server.query('CREATE TABLE public.orders (id int PRIMARY KEY, total numeric); INSERT INTO public.orders VALUES (1, 9.5);', [], 'shop');
  // slot-warn-bytes: 1 — every slot that keeps any WAL is over it.
  await writeFile(
    join(dir.path, 'dbbackup.yaml'),
    [
      'sources:',
      `  shop: { engine: postgres, url: "${server.url('shop')}", capture: changes }`,
      `  other: { engine: postgres, url: "${server.url('postgres')}" }`,
      'targets:',
      '  disk: { url: ./repo }',
      'backups:',
      '  shop: { targets: [disk], slot-warn-bytes: 1 }',
    ].join('\n'),
  );
});

afterAll(async () => {
  await server?.stop();
  await dir?.cleanup();
});

const cli = (args: string[]) => runCli([...args, '--config', 'dbbackup.yaml'], { env, cwd: dir.path });
const slotNames = async () => (await server.query<{ slot_name: string }>("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'dbbackup_shop_%' ORDER BY 1")).map((r) => r.slot_name);

describe('dbbackup slot list / slot drop (PostgreSQL)', () => {
  it('lists the capture source\'s slot with its retained WAL, warns past slot-warn-bytes, exposes it to Prometheus; drop refuses without --yes while a chain needs it, then the chain has ended', async () => {
    const none = await cli(['slot', 'list', '--json']);
    expect(none.code, none.stderr).toBe(0);
    expect((JSON.parse(none.stdout) as { sources: { source: string; slots: unknown[] }[] }).sources).toEqual([expect.objectContaining({ source: 'shop', slots: [] })]);

    const full = await cli(['backup', '--source', 'shop', '--json']);
    expect(full.code, full.stderr).toBe(0);
    // Over slot-warn-bytes right after the backup: a warning on the terminal (the log).
    expect(full.stderr).toMatch(/capture slot dbbackup_shop_[a-z0-9]+ holds .* of WAL/);
    const [slot] = await slotNames();
    await server.query('INSERT INTO public.orders SELECT g, g FROM generate_series(2, 2000) g', [], 'shop');

    const listed = await cli(['slot', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const [shop] = (JSON.parse(listed.stdout) as { sources: { source: string; slots: { name: string; retainedBytes: number; health: string; serverStatus: string; safeBytes: number | null }[]; warnings: string[] }[] }).sources;
    expect(shop!.slots).toEqual([expect.objectContaining({ name: slot, health: 'ok', serverStatus: 'reserved', safeBytes: null })]);
    expect(shop!.slots[0]!.retainedBytes).toBeGreaterThan(0);
    expect(shop!.warnings.join('\n')).toMatch(/over the .* of slot-warn-bytes/);
    const human = await cli(['slot', 'list']);
    expect(human.stdout).toMatch(new RegExp(`shop\\s+${slot}\\s+ok \\(reserved\\)\\s+\\S+ \\S+ \\(!\\)\\s+no limit`));

    const list = await cli(['list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/Capture slots:[\s\S]*dbbackup_shop_/);
    const metrics = await cli(['schedule', 'status', '--prometheus']);
    expect(metrics.code, metrics.stderr).toBe(0);
    expect(metrics.stdout).toMatch(new RegExp(`dbbackup_capture_slot_retained_bytes\\{source="shop",slot="${slot}"\\} [1-9]\\d*`));
    expect(metrics.stdout).toMatch(new RegExp(`dbbackup_capture_slot_lost\\{source="shop",slot="${slot}"\\} 0`));
    expect(metrics.stdout).toMatch(/dbbackup_capture_slot_warn_bytes\{source="shop"\} 1/);

    const refused = await cli(['slot', 'drop', 'shop']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/continue their chain through dbbackup_shop_.*next backup of "shop" must be a full.*--yes/);
    expect(await slotNames()).toEqual([slot]);
    const dry = await cli(['slot', 'drop', 'shop', '--yes', '--dry-run']);
    expect(dry.stdout).toMatch(/would drop dbbackup_shop_/);
    expect(await slotNames()).toEqual([slot]);

    const dropped = await cli(['slot', 'drop', 'shop', '--yes']);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.stdout).toMatch(/Dropped dbbackup_shop_[a-z0-9]+, publication dbbackup_shop of "shop"\. The next backup of "shop" must be a full/);
    expect(await slotNames()).toEqual([]);
    expect(await server.query(`SELECT pubname FROM pg_publication`, [], 'shop')).toEqual([]);

    const inc = await cli(['backup', '--source', 'shop', '--type', 'incremental']);
    expect(inc.code).toBe(1);
    expect(inc.stderr).toMatch(/error E_SLOT_LOST: .*no longer exists.*Take a full backup instead/);
    const auto = await cli(['backup', '--source', 'shop', '--type', 'incremental', '--auto-full', '--json']);
    expect(auto.code, auto.stderr).toBe(0);
    expect(JSON.parse(auto.stdout)).toMatchObject({ kind: 'full', fallback: { requested: 'incremental' } });
    expect(await slotNames()).toHaveLength(1);
  });

  it('slot commands on a database named by flags; a source without capture has no slot', async () => {
    const r = await runCli(['slot', 'list', '--db', 'postgres', '--url', server.url('postgres'), '--json'], { env, cwd: dir.path });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sources: [{ source: 'postgres', slots: [] }] });
    const drop = await runCli(['slot', 'drop', 'postgres', '--db', 'postgres', '--url', server.url('postgres')], { env, cwd: dir.path });
    expect(drop.code, drop.stderr).toBe(0);
    expect(drop.stdout).toMatch(/has no capture slot or publication/);
  });
});
