import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresConnector } from '../../../src/adapters/connectors/postgres/postgres-connector.js';
import type { ConnectionTarget } from '../../../src/application/ports/connection-target.js';
import type { Finding } from '../../../src/domain/diagnosis.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';

/**
 * `doctor`'s slot check (POSTGRES_CHECKS' `slots`) on the harness's real PostgreSQL: each capture
 * slot of the source with its retained WAL and wal_status, a warning with its fix past the
 * source's slot-warn-bytes, nothing said of other sources' slots.
 */
let server: PostgresServer;
const connector = new PostgresConnector();

beforeAll(async () => {
  server = await startPostgres();
  await server.query('CREATE DATABASE shop');
  await server.query('CREATE TABLE public.t (id int PRIMARY KEY, v text)', [], 'shop');
  // Slots as a full with capture names them: dbbackup_<source>_<suffix>, pgoutput, in the source's database.
  await server.query("SELECT pg_create_logical_replication_slot('dbbackup_shop_k1', 'pgoutput'), pg_create_logical_replication_slot('dbbackup_other_k2', 'pgoutput')", [], 'shop');
  // WAL written after the slots: they retain it until confirmed.
  await server.query("INSERT INTO public.t SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g", [], 'shop');
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const target = (): ConnectionTarget => ({ engine: 'postgres', url: server.url('shop') });
const slotFindings = (all: Finding[]) => all.filter((f) => f.check === 'slots');

describe('doctor: PostgreSQL capture slots', () => {
  it('reports the source slot under the threshold as ok, with retained WAL and wal_status; other sources\' slots are left out', async () => {
    const found = slotFindings(await connector.diagnose(target(), { subject: 'source shop', incremental: true, source: 'shop', slotWarnBytes: 1024 ** 3 }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ subject: 'source shop', status: 'ok', message: expect.stringMatching(/^slot dbbackup_shop_k1: [\d.]+ MiB of WAL retained, wal_status reserved .*under the 1\.00 GiB warning threshold/) });
  });

  it('warns past slot-warn-bytes, with the fix', async () => {
    const found = slotFindings(await connector.diagnose(target(), { subject: 'source shop', incremental: true, source: 'shop', slotWarnBytes: 1024 }));
    expect(found).toEqual([expect.objectContaining({ status: 'warn', message: expect.stringMatching(/^slot dbbackup_shop_k1: .*wal_status reserved/), fix: expect.stringMatching(/over the .* of slot-warn-bytes.*dbbackup slot drop SOURCE/) })]);
  });

  it('a source with no slot yet: told when it takes incrementals, silent otherwise', async () => {
    const none = slotFindings(await connector.diagnose(target(), { subject: 'source fresh', incremental: true, source: 'fresh' }));
    expect(none).toEqual([expect.objectContaining({ status: 'ok', message: expect.stringMatching(/no capture slot yet/) })]);
    expect(slotFindings(await connector.diagnose(target(), { subject: 'source fresh', incremental: false, source: 'fresh' }))).toEqual([]);
  });

  it('without a source name (doctor --db), every dbbackup slot of the database', async () => {
    const all = slotFindings(await connector.diagnose(target(), { subject: 'postgres', incremental: false }));
    expect(all.map((f) => /^slot (\S+):/.exec(f.message)?.[1])).toEqual(['dbbackup_other_k2', 'dbbackup_shop_k1']);
  });

  it('names the tables change capture cannot follow (no primary key or replica identity), with the fix, when the source takes incrementals', async () => {
    const keyless = async (incremental: boolean) => (await connector.diagnose(target(), { subject: 'source shop', incremental, source: 'shop' })).filter((f) => f.check === 'keyless');
    expect(await keyless(true)).toEqual([expect.objectContaining({ status: 'ok', message: expect.stringMatching(/every table has a primary key or replica identity/) })]);
    await server.query('CREATE TABLE public.bag (a int); CREATE TABLE public.full_bag (a int); ALTER TABLE public.full_bag REPLICA IDENTITY FULL', [], 'shop');
    try {
      expect(await keyless(true)).toEqual([
        expect.objectContaining({
          status: 'warn',
          message: expect.stringMatching(/^1 table without a primary key or replica identity \(public\.bag\): .*replicate refuses it \(E_KEYLESS_TABLES\)/),
          fix: expect.stringMatching(/--replica-identity-full/),
        }),
      ]);
      expect(await keyless(false)).toEqual([]);
    } finally {
      await server.query('DROP TABLE public.bag, public.full_bag', [], 'shop');
    }
  });
});
