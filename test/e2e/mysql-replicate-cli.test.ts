import type { ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type MariaDbServer, startMariaDb } from '../helpers/mariadb-server.js';
import { type Replicator, startReplicate, stopReplicate } from '../helpers/replicate-process.js';
import { tempDir } from '../helpers/temp.js';
import { tableFingerprints } from '../integration/mysql/harness.js';

/**
 * `dbbackup replicate --db mysql` through the built CLI (`npm run build` first), against the
 * harness's real MariaDB (--log-bin, ROW): restores at instants between segments equal (CHECKSUM
 * TABLE of every table) the source then, an instant being recorded only once replicate reported
 * every commit before it shipped (and once the binlog's second of it is over: its times are whole
 * seconds); kill -9 and a restart lose nothing reported and apply nothing twice; a binlog purged
 * while replicate was stopped starts a new generation that says why; a killed dump connection is
 * resumed.
 */
let server: MariaDbServer;
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];
const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });

function replicate(db: string, repo: string, ...extra: string[]): Replicator {
  return startReplicate(['--db', 'mysql', '--url', server.url(db), '--out', repo, '--interval', '200ms', ...extra], { cwd: dir.path, env, children });
}

/** `n` transactions (an insert, every third an update of an older row, every fifth a delete, a counter bumped) on a connection of their own. */
async function write(db: string, from: number, n: number): Promise<void> {
  const conn = await server.connect(db);
  try {
    for (let i = from; i < from + n; i++) {
      await conn.query('BEGIN');
      await conn.query('INSERT INTO items (note, amount, at) VALUES (?, ?, NOW(6))', [`item ${i}`, (i * 1.25).toFixed(2)]);
      if (i % 3 === 0) await conn.query("UPDATE items SET note = CONCAT(note, ' *'), amount = amount + 1 WHERE id = (SELECT id FROM (SELECT MIN(id) AS id FROM items WHERE id > ? - 40) m)", [i]);
      if (i % 5 === 0) await conn.query('DELETE FROM items ORDER BY id LIMIT 1');
      await conn.query('INSERT INTO counters (k, v) VALUES (?, 1) ON DUPLICATE KEY UPDATE v = v + 1', [i % 7]);
      await conn.query('COMMIT');
    }
  } finally {
    await conn.end();
  }
}

async function createSource(db: string): Promise<void> {
  await server.query(`CREATE DATABASE ${db};
    CREATE TABLE ${db}.items (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(200), amount DECIMAL(12,2), at DATETIME(6));
    CREATE TABLE ${db}.counters (k INT PRIMARY KEY, v BIGINT);
    INSERT INTO ${db}.items (note, amount, at) VALUES ('first', 1.5, '2026-01-01 00:00:00.123456');`);
}

/** The server's time now, once the binlog's second of it is over (its commit times are whole seconds). */
async function instant(): Promise<string> {
  const [row] = await server.query<{ t: string }>('SELECT UNIX_TIMESTAMP(NOW(3)) AS t');
  const at = Number(row!.t);
  while (Number((await server.query<{ t: string }>('SELECT UNIX_TIMESTAMP() AS t'))[0]!.t) <= Math.floor(at)) await new Promise((r) => setTimeout(r, 50));
  return new Date(Math.round(at * 1000)).toISOString();
}

async function restoreAt(repo: string, at: string, db: string): Promise<{ point: string }> {
  const r = await cli('restore', '--from', repo, '--at', at, '--db', 'mysql', '--url', server.url(db), '--create', '--json');
  if (r.code !== 0) throw new Error(`restore --at ${at} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as { point: string };
}

/** The binlog position after every commit so far. */
async function masterEnd(): Promise<{ file: string; position: number }> {
  const [s] = await server.query<{ File: string; Position: string | number }>('SHOW MASTER STATUS');
  return { file: s!.File, position: Number(s!.Position) };
}

/** The furthest binlog position any manifest in `repo` (a local folder) reaches. */
async function listedEnd(repo: string): Promise<{ file: string; position: number } | undefined> {
  let best: { file: string; position: number } | undefined;
  for (const entry of await readdir(join(dir.path, repo), { recursive: true })) {
    if (!String(entry).endsWith('manifest.json')) continue;
    const m = JSON.parse(await readFile(join(dir.path, repo, String(entry)), 'utf8')) as { position?: { to?: { file?: string; position?: number } } };
    const to = m.position?.to;
    if (typeof to?.file !== 'string' || typeof to.position !== 'number') continue;
    if (!best || to.file > best.file || (to.file === best.file && to.position > best.position)) best = { file: to.file, position: to.position };
  }
  return best;
}

/** Every position (`FILE:POS`) a segment or full of `repo` ends at. */
async function segmentEnds(repo: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const entry of await readdir(join(dir.path, repo), { recursive: true })) {
    if (!String(entry).endsWith('manifest.json')) continue;
    const m = JSON.parse(await readFile(join(dir.path, repo, String(entry)), 'utf8')) as { logPosition?: { file?: string; position?: number } };
    if (typeof m.logPosition?.file === 'string') out.add(`${m.logPosition.file}:${m.logPosition.position}`);
  }
  return out;
}

/** Waits until the repository lists every commit of `db` made so far (a transaction of its own marks the end). */
async function listedThroughNow(db: string, repo: string): Promise<void> {
  await server.query(`INSERT INTO ${db}.counters (k, v) VALUES (1000, 0) ON DUPLICATE KEY UPDATE v = v`);
  const end = await masterEnd();
  for (;;) {
    const l = await listedEnd(repo);
    if (l && (l.file > end.file || (l.file === end.file && l.position >= end.position))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const stop = stopReplicate;

const applied = async (db: string) => Number((await server.query<{ n: string }>(`SELECT COALESCE(SUM(v), 0) AS n FROM ${db}.counters`))[0]!.n);

beforeAll(async () => {
  [server, dir] = await Promise.all([startMariaDb(), tempDir('dbb-e2e-myrepl-')]);
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), DBBACKUP_LOG_FILE: 'off', MYSQL_PWD: '' };
}, 60_000);

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

afterAll(async () => {
  await server?.stop();
  await dir?.cleanup();
});

describe('dbbackup replicate --db mysql (built CLI, MariaDB)', () => {
  it('follows the binary log under a writer; restore --at each instant equals the source then', async () => {
    await createSource('shop');
    const r = replicate('shop', 'repo', '--compaction', '1s,3s');
    await r.waitFor((e) => e.event === 'generation');
    const states = [{ at: await instant(), tables: await tableFingerprints(server, 'shop') }];
    let next = 1;
    for (let burst = 1; burst <= 3; burst++) {
      await write('shop', next, 100);
      next += 100;
      // Every commit of the burst is reported shipped before the instant is recorded.
      await r.waitFor(() => r.shipped() >= burst * 100);
      states.push({ at: await instant(), tables: await tableFingerprints(server, 'shop') });
    }
    await stop(r);
    for (const [i, s] of states.entries()) {
      const out = await restoreAt('repo', s.at, `shop_at_${i}`);
      expect(Date.parse(out.point)).toBeLessThanOrEqual(Date.parse(s.at));
      expect(await tableFingerprints(server, `shop_at_${i}`), `state at ${s.at}`).toEqual(s.tables);
    }
    expect(new Set(states.map((s) => JSON.stringify(s.tables))).size).toBe(states.length);
    await restoreAt('repo', 'latest', 'shop_latest');
    expect(await tableFingerprints(server, 'shop_latest')).toEqual(states.at(-1)!.tables);
    // AUTO_INCREMENT goes on in the restored copy.
    await server.query("INSERT INTO shop_latest.items (note) VALUES ('after restore')");
  }, 240_000);

  it('restore --at-gtid / --at-position stops inside a replicated segment, equal to the source after that transaction', async () => {
    await createSource('g');
    // A long interval: a burst lands in few segments, so some transactions end inside one.
    const r = replicate('g', 'grepo', '--interval', '3s');
    await r.waitFor((e) => e.event === 'generation');
    const after: { gtid: string; end: { file: string; position: number }; tables: Awaited<ReturnType<typeof tableFingerprints>> }[] = [];
    for (let i = 1; i <= 24; i++) {
      await write('g', i, 1);
      // One writer: the state now is the state right after transaction i.
      const [g] = await server.query<{ g: string }>("SELECT SUBSTRING_INDEX(@@GLOBAL.gtid_binlog_pos, ',', -1) AS g");
      after.push({ gtid: g!.g, end: await masterEnd(), tables: await tableFingerprints(server, 'g') });
    }
    await listedThroughNow('g', 'grepo');
    await stop(r);
    const bounds = await segmentEnds('grepo');
    // Transactions whose end is no segment's end: inside one (each shipped segment holds several).
    const inside = after.filter((a) => !bounds.has(`${a.end.file}:${a.end.position}`));
    expect(inside.length).toBeGreaterThanOrEqual(2);
    const byGtid = inside[Math.floor(inside.length / 3)]!;
    const byPosition = inside[Math.floor((2 * inside.length) / 3)]!;
    expect(byGtid.gtid).not.toBe(byPosition.gtid);
    const viaGtid = await cli('restore', '--from', 'grepo', '--at-gtid', byGtid.gtid, '--db', 'mysql', '--url', server.url('g_gtid'), '--create', '--json');
    expect(viaGtid.code, viaGtid.stderr).toBe(0);
    expect(await tableFingerprints(server, 'g_gtid'), `state after GTID ${byGtid.gtid}`).toEqual(byGtid.tables);
    const pos = `${byPosition.end.file}:${byPosition.end.position}`;
    const viaPos = await cli('restore', '--from', 'grepo', '--at-position', pos, '--db', 'mysql', '--url', server.url('g_pos'), '--create', '--json');
    expect(viaPos.code, viaPos.stderr).toBe(0);
    expect(await tableFingerprints(server, 'g_pos'), `state at ${pos}`).toEqual(byPosition.tables);
    // A GTID the chain never had names its range.
    const none = await cli('restore', '--from', 'grepo', '--at-gtid', '0-1-99999999', '--db', 'mysql', '--url', server.url('g_none'), '--create');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/E_NO_RESTORE_POINT|not in the chain/);
  }, 180_000);

  it('kill -9 then a restart resumes from the last listed segment: nothing reported shipped is lost, nothing is applied twice', async () => {
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
    expect(r.events.filter((e) => e.event === 'generation')).toHaveLength(0);
    await write('k', next, 10);
    await listedThroughNow('k', 'krepo');
    const final = await tableFingerprints(server, 'k');
    await stop(r);
    // Every commit once: one applied twice would count twice in counters, one lost would be missing.
    await restoreAt('krepo', 'latest', 'k_latest');
    expect(await tableFingerprints(server, 'k_latest')).toEqual(final);
    expect(await applied('k_latest')).toBe(next - 1 + 10);
    for (const [i, rep] of reported.entries()) {
      await restoreAt('krepo', rep.through, `k_at_${i}`);
      expect(await applied(`k_at_${i}`)).toBeGreaterThanOrEqual(rep.commits);
    }
  }, 300_000);

  it('a binary log purged while replicate was stopped starts a new generation that says why; both restore', async () => {
    await createSource('p');
    const r1 = replicate('p', 'prepo');
    const first = await r1.waitFor((e) => e.event === 'generation');
    await write('p', 1, 20);
    await r1.waitFor(() => r1.shipped() >= 20);
    const before = { at: await instant(), tables: await tableFingerprints(server, 'p') };
    await stop(r1);
    await write('p', 21, 20);
    // The file the last segment ends in goes away (MariaDB keeps a file until InnoDB checkpointed it: retried).
    const gone = (await listedEnd('prepo'))!.file;
    const present = async () => (await server.query<{ Log_name: string }>('SHOW BINARY LOGS')).some((l) => l.Log_name === gone);
    for (let i = 0; i < 100 && (await present()); i++) {
      await server.query('FLUSH BINARY LOGS');
      await server.query(`PURGE BINARY LOGS TO '${(await masterEnd()).file}'`);
      if (await present()) await new Promise((r) => setTimeout(r, 100));
    }
    expect(await present()).toBe(false);
    const r2 = replicate('p', 'prepo');
    const second = await r2.waitFor((e) => e.event === 'generation');
    expect(second.generation).not.toBe(first.generation);
    expect(String(second.reason)).toMatch(/purged/);
    await write('p', 41, 10);
    await listedThroughNow('p', 'prepo');
    const final = await tableFingerprints(server, 'p');
    await stop(r2);
    await restoreAt('prepo', 'latest', 'p_latest');
    expect(await tableFingerprints(server, 'p_latest')).toEqual(final);
    await restoreAt('prepo', before.at, 'p_before');
    expect(await tableFingerprints(server, 'p_before')).toEqual(before.tables);
  }, 180_000);

  it('a dump connection killed on the server is resumed from the last event read: nothing lost, nothing applied twice', async () => {
    await createSource('rc');
    const r = replicate('rc', 'rcrepo');
    await r.waitFor((e) => e.event === 'generation');
    const writing = write('rc', 1, 60);
    await r.waitFor((e) => e.event === 'segment');
    const dumps = await server.query<{ id: number }>("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'");
    expect(dumps.length).toBeGreaterThan(0);
    for (const d of dumps) await server.query(`KILL ${Number(d.id)}`);
    await writing;
    await listedThroughNow('rc', 'rcrepo');
    const final = await tableFingerprints(server, 'rc');
    await stop(r);
    expect(r.events.filter((e) => e.event === 'generation')).toHaveLength(1);
    await restoreAt('rcrepo', 'latest', 'rc_latest');
    expect(await tableFingerprints(server, 'rc_latest')).toEqual(final);
    expect(await applied('rc_latest')).toBe(60);
  }, 120_000);
});
