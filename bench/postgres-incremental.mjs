#!/usr/bin/env node
// PostgreSQL change-capture benchmark: full vs incremental vs differential backups, change apply speed,
// and what a backup costs the source's pgbench throughput.
// Usage: node bench/postgres-incremental.mjs [--scale S=20] [--runs N=3] [--rounds R=3] [--transactions T=S×1000] [--keyless-history] [--no-tps] [--no-restore] [--baseline DIR] [--recvlogical]
//   [--tps-variants 'incremental|full'] [--nice-compare] [--tps-runs N=max(3, runs)]
//   needs `npm run build` and PostgreSQL server binaries (PG_BIN, default /usr/lib/postgresql/15/bin).
//   The work folder (server data, repositories) is made under $BENCH_WORK, else /tmp. --no-restore times the
//   backups only (no differential, apply or restores: at scale 64, ~1 GB, those take most of the run).
//
// Starts its own throwaway server (initdb in a temp dir, a free port, wal_level = logical) and builds a
// pgbench database of scale S (S = 20: 2 M accounts, ~320 MB; fixed so runs compare). pgbench_history has no
// key: unless --keyless-history, it gets REPLICA IDENTITY FULL (as the backup's warning advises), so its
// inserts are decoded instead of the whole table being read again at every backup. Each run, in a
// fresh repository (zstd-1, the CLI as a user runs it):
//   full (--capture changes) → R × [pgbench changes ~1 % of the accounts (S × 1,000 transactions of
//   `pgbench -t`, each one account, teller, branch update and one history insert), then an incremental]
//   → a differential (the net change of the R incrementals, plus the tail since the last).
// --transactions T: pgbench transactions per round instead of S × 1,000 (S × 500: ~1 % of the rows changed).
// --recvlogical: before each incremental a copy of its slot is taken, and after it pg_recvlogical decodes
//   the same WAL from the copy (dbbackup's START_REPLICATION options, into /dev/null); both WAL senders' CPU
//   seconds are printed per incremental, with how far the slot's restart point lay before the parent's end.
// Then the change apply: the full restored once (CLI), copied per measurement (CREATE DATABASE … TEMPLATE),
// and the incrementals (one after the other) or the differential applied to a copy in this process
// through the connector (dist/), timed alone: rows/s = changes applied / seconds, with the client's and
// the server's CPU seconds (on 2 shared cores the wall time mostly says how busy the machine was). The copies are compared
// with the source (every table's content hash). Last, pgbench TPS for 10 s alone and for 10 s while
// incrementals (and, separately, fulls) of the source run back to back (--no-tps leaves that out); then,
// as the issue's check says it, the TPS during ONE backup: pgbench (-c 2) runs throughout, and the
// transactions the server commits per second over exactly the backup's run are compared with its rate in
// the 4 s before and after (medians of --tps-runs), for each of --tps-variants (e.g. 'incremental|full|full
// --parallel 1'; --nice-compare adds each with `--nice 0`: the CLI lowers itself to nice 10 by default here).
// Beside wall times, each backup's CPU seconds (the CLI's process tree, and the server's during it): on a
// loaded machine the CPU ratio says more than the wall-clock one.
// Figures are medians over runs; peak RSS is the highest of every CLI run.
// --baseline DIR (another build: DIR/bin/dbbackup.js with its dist/, e.g. a copy of main's) compares
// before/after in the same invocation: each run also takes a full with that build (its own catalog, so
// its own slot), and after each pgbench round both builds take their incremental of the same changes,
// in alternating order; the baseline's full and incremental times and CPU are reported beside.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { measure, printTable, treeCpuSeconds } from './measure.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'dbbackup.js');
const baselineAt = process.argv.indexOf('--baseline');
const baselineBin = baselineAt >= 0 ? join(process.argv[baselineAt + 1], 'bin', 'dbbackup.js') : undefined;
const dist = (p) => import(join(root, 'dist', p));
const { PostgresConnector } = await dist('adapters/connectors/postgres/postgres-connector.js');
const { LocalRepositoryOpener } = await dist('adapters/storage/repository-opener.js');
const { MapCodecRegistry } = await dist('adapters/compression/codec-registry.js');
const { ZstdCodec } = await dist('adapters/compression/zstd-codec.js');
const { NoneCodec } = await dist('adapters/compression/none-codec.js');
const { PartReader } = await dist('application/pipeline/part-reader.js');
const { scanRepository } = await dist('application/services/backup-repository.js');

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : dflt;
};
const scale = opt('--scale', 20);
const runs = opt('--runs', 3);
const rounds = opt('--rounds', 3);
const perRound = opt('--transactions', scale * 1000); // pgbench transactions per round: S × 1,000 is ~1 % of the accounts (4 row changes each)
const keylessHistory = args.includes('--keyless-history');
const measureTps = !args.includes('--no-tps');
const restores = !args.includes('--no-restore');
/** --recvlogical: after each incremental, pg_recvlogical decodes the same WAL (from a copy of the slot taken before it). */
const recvlogical = args.includes('--recvlogical');
/**
 * The backups whose TPS cost is measured one at a time (--tps-variants, `|`-separated: a kind, then flags);
 * --nice-compare adds each one's twin with `--nice 0` (the CLI's default for this local server is auto: nice 10).
 */
const variantAt = args.indexOf('--tps-variants');
const tpsVariants = (variantAt >= 0 ? args[variantAt + 1] : 'incremental|full')
  .split('|')
  .map((v) => v.trim().split(/\s+/))
  .flatMap((v) => (args.includes('--nice-compare') ? [v, [...v, '--nice', '0']] : [v]));
const tpsRuns = opt('--tps-runs', Math.max(3, runs));
const work = mkdtempSync(join(process.env.BENCH_WORK ?? '/tmp', 'pgi-'));
const ids = userInfo().uid === 0
  ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
  : { uid: userInfo().uid, gid: userInfo().gid };
chownSync(work, ids.uid, ids.gid);
const env = { ...process.env, DBBACKUP_DATA_DIR: join(work, 'catalog'), PGPASSWORD: '' };

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
execFileSync(join(PG_BIN, 'initdb'), ['-D', join(work, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...ids, stdio: 'ignore', cwd: '/tmp' });
const server = spawn(join(PG_BIN, 'postgres'), ['-D', join(work, 'data'), '-p', String(port), '-k', work, '-c', 'listen_addresses=127.0.0.1',
  '-c', 'shared_buffers=256MB', '-c', 'maintenance_work_mem=256MB', '-c', 'max_wal_size=4GB', '-c', 'fsync=off', '-c', 'full_page_writes=off',
  '-c', 'wal_level=logical', '-c', 'max_replication_slots=20', '-c', 'max_wal_senders=20'], { ...ids, stdio: 'ignore' });
// Ctrl-C (no finally runs on a signal): stop the server and delete the work folder here.
process.once('SIGINT', () => {
  server.kill('SIGINT');
  server.once('exit', () => {
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
});
const url = (db) => `postgres://postgres@127.0.0.1:${port}/${db}`;
const pgArgs = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
const client = async (db = 'postgres') => {
  for (let i = 0; ; i++) {
    const c = new pg.Client({ connectionString: url(db) });
    c.on('error', () => {});
    try {
      await c.connect();
      return c;
    } catch (err) {
      if (i > 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
};
const sql = async (db, text) => {
  const c = await client(db);
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pgbench = (...a) => execFileSync(join(PG_BIN, 'pgbench'), [...pgArgs, ...a], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
let peakRss = 0;
/** Peak RSS per command (backup full/incremental/differential, restore). */
const peaks = {};
const baselineEnv = { ...env, DBBACKUP_DATA_DIR: join(work, 'catalog-baseline') };
/**
 * The CPU seconds of the server's WAL senders (the slot's decoding) while `running` runs, sampled every
 * 25 ms from /proc (a WAL sender's last few milliseconds before it exits may be missed).
 */
async function walSenderCpu(running) {
  const seen = new Map();
  const sample = () => {
    let children = [];
    try {
      children = readdirSync(`/proc/${server.pid}/task`).flatMap((t) => readFileSync(`/proc/${server.pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
    } catch {}
    for (const c of children) {
      try {
        if (!readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('walsender')) continue;
        const stat = readFileSync(`/proc/${c}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        seen.set(c, Math.max(seen.get(c) ?? 0, (Number(f[11]) + Number(f[12])) / 100));
      } catch {}
    }
  };
  const timer = setInterval(sample, 25);
  try {
    const r = await running;
    sample();
    return { r, seconds: [...seen.values()].reduce((x, y) => x + y, 0) };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Before an incremental: copies this build's slot (its restart point and confirmed position as the
 * incremental finds them); compare(i) then runs pg_recvlogical from the copy to the position the
 * incremental confirmed (the same WAL, the same restart point, no catch-up) and prints both WAL senders' CPU.
 */
async function slotProbe() {
  const [slot] = await sql('bench', `SELECT slot_name, pg_wal_lsn_diff(confirmed_flush_lsn, restart_lsn)::bigint AS behind FROM pg_replication_slots WHERE slot_name LIKE 'dbbackup%' AND slot_name <> 'dbbackup_probe'`);
  await sql('bench', `SELECT pg_copy_logical_replication_slot('${slot.slot_name}', 'dbbackup_probe')`);
  return {
    async compare(i) {
      const [{ end, pub }] = await sql('bench', `SELECT confirmed_flush_lsn::text AS end, (SELECT pubname FROM pg_publication LIMIT 1) AS pub FROM pg_replication_slots WHERE slot_name = '${slot.slot_name}'`);
      const serverBefore = treeCpuSeconds(server.pid);
      const { r, seconds } = await walSenderCpu(measure(join(PG_BIN, 'pg_recvlogical'), [...pgArgs, '-d', 'bench', '-S', 'dbbackup_probe', '--start', '-E', end, '--no-loop', '-F', '0', '-f', '/dev/null', '-o', 'proto_version=1', '-o', `publication_names=${pub}`]));
      if (r.code !== 0) throw new Error(`pg_recvlogical failed: ${r.stderr}`);
      const server2 = treeCpuSeconds(server.pid) - serverBefore;
      await sql('bench', `SELECT pg_drop_replication_slot('dbbackup_probe')`);
      console.log(`  incremental: restart point ${(Number(slot.behind) / 1e6).toFixed(1)} MB before the parent's end; WAL sender CPU dbbackup ${i.walSenderCpuSeconds.toFixed(2)} s (server ${i.serverCpuSeconds.toFixed(2)}), pg_recvlogical on the same WAL ${seconds.toFixed(2)} s (server ${server2.toFixed(2)})`);
    },
  };
}

const cli = async (...a) => {
  const serverBefore = treeCpuSeconds(server.pid);
  const base = a[0] === '#baseline';
  const { r, seconds: walSender } = await walSenderCpu(measure(process.execPath, [base ? baselineBin : bin, ...a.filter((x) => !x.startsWith('#')), '--quiet'], { env: base ? baselineEnv : env, cwd: work }));
  if (r.code !== 0) throw new Error(`dbbackup ${a.join(' ')} failed: ${r.stderr}`);
  r.serverCpuSeconds = treeCpuSeconds(server.pid) - serverBefore;
  r.walSenderCpuSeconds = walSender;
  if (base) return r;
  peakRss = Math.max(peakRss, r.peakRssMB);
  const label = a[0] === 'backup' ? `backup ${a.includes('--type') ? a[a.indexOf('--type') + 1] : 'full'}` : `restore ${a.find((x) => x.startsWith('#'))?.slice(1) ?? ''}`;
  peaks[label] = Math.max(peaks[label] ?? 0, r.peakRssMB);
  return r;
};

/** Every table's row count and content hash. */
async function hashes(db) {
  const c = await client(db);
  try {
    const out = {};
    for (const t of ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history']) {
      out[t] = (await c.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) AS h FROM ${t} t`)).rows[0];
    }
    return JSON.stringify(out);
  } finally {
    await c.end();
  }
}

/** Applies `manifests` (oldest first) onto database `db` in this process; returns { rows, seconds }. */
async function applyLinks(repo, manifests, db) {
  const { store } = await new LocalRepositoryOpener().open(repo, 'read');
  const codecs = new MapCodecRegistry([new ZstdCodec(), new NoneCodec()]);
  const connector = new PostgresConnector();
  const session = await connector.connect({ engine: 'postgres', host: '127.0.0.1', port, user: 'postgres', database: db, options: {} }, 'restore');
  try {
    const signal = new AbortController().signal;
    const started = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const serverBefore = treeCpuSeconds(server.pid);
    let rows = 0;
    for (const m of manifests) rows += (await session.changes.applyChanges(new PartReader(store, m, codecs, undefined, undefined, 'when-needed'), undefined, signal)).rows;
    const used = process.cpuUsage(cpu);
    return { rows, seconds: Number(process.hrtime.bigint() - started) / 1e9, cpu: (used.user + used.system) / 1e6, serverCpu: treeCpuSeconds(server.pid) - serverBefore };
  } finally {
    await session.close();
  }
}

/** pgbench TPS over `seconds`, with `during` (a function returning a promise) run back to back meanwhile. */
async function tps(seconds, during) {
  const child = spawn(join(PG_BIN, 'pgbench'), [...pgArgs, '-n', '-c', '2', '-T', String(seconds), 'bench'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise((resolve) => child.on('close', resolve));
  let running = true;
  done.then(() => (running = false));
  let backups = 0;
  if (during) {
    while (running) {
      await during();
      backups++;
    }
  }
  await done;
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  return { tps: Number(m?.[1] ?? NaN), backups };
}

/**
 * pgbench (-c 2) running in the background, and the source's transaction rate over any stretch of
 * time: the transaction ids the server assigned per second (each pgbench transaction takes one; a
 * backup takes a handful, which is < 1 % here). So the TPS during one backup is measured over exactly
 * its run, and compared with the rate in ALONE_SECONDS just before and just after it (the mean of the
 * two), which cancels the drift of the machine's other load.
 */
const ALONE_SECONDS = 4;
async function tpsProbe() {
  const child = spawn(join(PG_BIN, 'pgbench'), [...pgArgs, '-n', '-c', '2', '-T', '3600', 'bench'], { stdio: 'ignore' });
  const c = await client('bench');
  const mark = async () => {
    const [{ x }] = (await c.query('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x')).rows;
    return { xid: Number(x), at: process.hrtime.bigint() };
  };
  const rate = (a, b) => (b.xid - a.xid) / (Number(b.at - a.at) / 1e9);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  await sleep(2000); // pgbench's connections up and warm
  return {
    /** { during, alone, ratio, seconds, load } for one run of `backup` (a function returning a promise). */
    async during(backup) {
      const m0 = await mark();
      await sleep(ALONE_SECONDS * 1000);
      const m1 = await mark();
      const load = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
      await backup();
      const m2 = await mark();
      await sleep(ALONE_SECONDS * 1000);
      const m3 = await mark();
      const alone = (rate(m0, m1) + rate(m2, m3)) / 2;
      const during = rate(m1, m2);
      return { during, alone, ratio: during / alone, seconds: Number(m2.at - m1.at) / 1e9, load };
    },
    async stop() {
      await c.end();
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

try {
  await sql('postgres', 'CREATE DATABASE bench');
  console.log(`building a pgbench database of scale ${scale}…`);
  pgbench('-i', '-q', '-s', String(scale), 'bench');
  if (!keylessHistory) await sql('bench', 'ALTER TABLE pgbench_history REPLICA IDENTITY FULL');
  await sql('bench', 'VACUUM ANALYZE');
  const dbMB = Number((await sql('bench', `SELECT pg_database_size('bench') AS s`))[0].s) / 1e6;
  console.log(`database: ${dbMB.toFixed(0)} MB; ${scale * 100_000} accounts; ${perRound} pgbench transactions (~1 % of the accounts) per round, ${rounds} rounds, ${runs} run(s); pgbench_history ${keylessHistory ? 'keyless (read whole at every backup)' : 'REPLICA IDENTITY FULL'}\n`);

  const before = { full: [], fullCpu: [], incremental: [], incCpu: [], incWalSender: [] };
  const figures = { fullCliCpu: [], fullSrvCpu: [], incCliCpu: [], incSrvCpu: [], incWalSender: [], incCpu: [], incServerCpu: [], diffCpu: [], diffServerCpu: [], full: [], incremental: [], differential: [], incApply: [], diffApply: [], incRows: [], diffRows: [], incRate: [], diffRate: [], chainRestore: [], diffRestore: [], fullRestore: [] };
  let mismatches = 0;
  for (let run = 0; run < runs; run++) {
    const repo = join(work, `repo_${run}`);
    const backup = (...a) => cli('backup', '--db', 'postgres', '--url', url('bench'), '--out', repo, ...a);
    const baseRepo = join(work, `base_repo_${run}`);
    const baseline = (...a) => cli('#baseline', 'backup', '--db', 'postgres', '--url', url('bench'), '--out', baseRepo, ...a);
    if (baselineBin) {
      const b = await baseline('--capture', 'changes');
      before.full.push(b.seconds);
      before.fullCpu.push(b.cpuSeconds + b.serverCpuSeconds);
    }
    const f = await backup('--capture', 'changes');
    figures.full.push(f.seconds);
    figures.fullCliCpu.push(f.cpuSeconds);
    figures.fullSrvCpu.push(f.serverCpuSeconds);
    for (let r = 0; r < rounds; r++) {
      pgbench('-n', '-c', '2', '-t', String(perRound / 2), 'bench');
      const old = async () => {
        if (!baselineBin) return;
        const b = await baseline('--type', 'incremental');
        before.incremental.push(b.seconds);
        before.incCpu.push(b.cpuSeconds + b.serverCpuSeconds);
        before.incWalSender.push(b.walSenderCpuSeconds);
      };
      if (r % 2 === 0) await old();
      const probe = recvlogical ? await slotProbe() : undefined;
      const i = await backup('--type', 'incremental');
      if (probe) await probe.compare(i);
      if (r % 2 === 1) await old();
      figures.incremental.push(i.seconds);
      figures.incCliCpu.push(i.cpuSeconds);
      figures.incSrvCpu.push(i.serverCpuSeconds);
      figures.incWalSender.push(i.walSenderCpuSeconds);
    }
    if (!restores) {
      await sql('bench', `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active`);
      console.log(`run ${run + 1}/${runs} done`);
      continue;
    }
    pgbench('-n', '-c', '2', '-t', '100', 'bench');
    figures.differential.push((await backup('--type', 'differential')).seconds);
    const source = await hashes('bench');

    const { store } = await new LocalRepositoryOpener().open(repo, 'read');
    const manifests = (await scanRepository(store)).manifests.sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
    const full = manifests.find((m) => m.kind === 'full');
    const incs = manifests.filter((m) => m.kind === 'incremental');
    const diff = manifests.find((m) => m.kind === 'differential');
    const base = `base_${run}`;
    execFileSync(join(PG_BIN, 'createdb'), [...pgArgs, base]);
    figures.fullRestore.push((await cli('restore', '#full', '--from', repo, '--backup', full.id, '--db', 'postgres', '--url', url(base))).seconds);
    // The differential reaches the source's final state; the incrementals (which end before its tail) are
    // checked against the CLI's chain restore to the same point below.
    await sql('postgres', `CREATE DATABASE inc_${run} TEMPLATE ${base}`);
    await sql('postgres', `CREATE DATABASE diff_${run} TEMPLATE ${base}`);
    const inc = await applyLinks(repo, incs, `inc_${run}`);
    const dif = await applyLinks(repo, [diff], `diff_${run}`);
    figures.incApply.push(inc.seconds);
    figures.incCpu.push(inc.cpu);
    figures.incServerCpu.push(inc.serverCpu);
    figures.diffCpu.push(dif.cpu);
    figures.diffServerCpu.push(dif.serverCpu);
    figures.incRows.push(inc.rows);
    figures.incRate.push(inc.rows / inc.seconds);
    figures.diffApply.push(dif.seconds);
    figures.diffRows.push(dif.rows);
    figures.diffRate.push(dif.rows / dif.seconds);
    if ((await hashes(`diff_${run}`)) !== source) {
      mismatches++;
      console.log(`run ${run}: full + differential DIFFERS from the source`);
    }
    // Chain restores through the CLI: full + every incremental (to the last incremental's end), full + differential.
    execFileSync(join(PG_BIN, 'createdb'), [...pgArgs, `chain_${run}`]);
    figures.chainRestore.push((await cli('restore', '#incrementals', '--from', repo, '--backup', incs.at(-1).id, '--db', 'postgres', '--url', url(`chain_${run}`))).seconds);
    if ((await hashes(`chain_${run}`)) !== (await hashes(`inc_${run}`))) {
      mismatches++;
      console.log(`run ${run}: the CLI chain restore and the in-process apply of the incrementals DIFFER`);
    }
    execFileSync(join(PG_BIN, 'createdb'), [...pgArgs, `dr_${run}`]);
    figures.diffRestore.push((await cli('restore', '#differential', '--from', repo, '--backup', diff.id, '--db', 'postgres', '--url', url(`dr_${run}`))).seconds);
    if ((await hashes(`dr_${run}`)) !== source) {
      mismatches++;
      console.log(`run ${run}: the CLI restore of the differential DIFFERS from the source`);
    }
    for (const db of [base, `inc_${run}`, `diff_${run}`, `chain_${run}`, `dr_${run}`]) execFileSync(join(PG_BIN, 'dropdb'), [...pgArgs, db]);
    await sql('bench', `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active`);
    console.log(`run ${run + 1}/${runs} done`);
  }

  // pgbench throughput alone, and while backups of the source run back to back (alternating order);
  // then the TPS during ONE backup against the TPS just before and after it (tpsProbe), per variant.
  const repo = join(work, 'repo_tps');
  const backup = (...a) => cli('backup', '--db', 'postgres', '--url', url('bench'), '--out', repo, ...a);
  if (measureTps) await backup('--capture', 'changes');
  const alone = [];
  const withInc = [];
  const withFull = [];
  let incs = 0;
  let fulls = 0;
  for (let run = 0; run < (measureTps ? runs : 0); run++) {
    alone.push((await tps(10)).tps);
    const i = await tps(10, () => backup('--type', 'incremental'));
    withInc.push(i.tps);
    incs += i.backups;
    const f = await tps(10, () => backup('--type', 'full', '--capture', 'changes'));
    withFull.push(f.tps);
    fulls += f.backups;
  }
  /** Per variant (kind and nice flags): one backup's TPS ratios, its CPU seconds (CLI) and its wall seconds. */
  const single = new Map();
  if (measureTps) {
    const variants = tpsVariants.map(([kind, ...flags]) => [[kind, ...flags].join(' '), ['--type', kind, ...(kind === 'full' ? ['--capture', 'changes'] : []), ...flags]]);
    const probe = await tpsProbe();
    try {
      for (let run = 0; run < tpsRuns; run++) {
        // Alternate the order of the variants between runs, so none always follows the same one.
        for (const [label, a] of run % 2 ? [...variants].reverse() : variants) {
          let r;
          const m = await probe.during(async () => (r = await backup(...a)));
          const v = single.get(label) ?? { ratio: [], during: [], alone: [], cpu: [], wall: [], load: [] };
          v.ratio.push(m.ratio);
          v.during.push(m.during);
          v.alone.push(m.alone);
          v.cpu.push(r.cpuSeconds);
          v.wall.push(r.seconds);
          v.load.push(m.load);
          single.set(label, v);
        }
      }
    } finally {
      await probe.stop();
    }
  }
  await sql('bench', `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active`);

  const s = (xs) => (xs.length ? median(xs).toFixed(2) : '-');
  printTable([
    { operation: `full backup (--capture changes); CPU s CLI ${s(figures.fullCliCpu)}, server ${s(figures.fullSrvCpu)}`, seconds: s(figures.full) },
    { operation: `incremental (~1 % of the accounts changed; median of ${figures.incremental.length}); CPU s CLI ${s(figures.incCliCpu)}, server ${s(figures.incSrvCpu)} (WAL sender ${s(figures.incWalSender)})`, seconds: s(figures.incremental) },
    ...(restores ? [] : [{ operation: '(--no-restore: no differential, apply or restore)', seconds: '-' }]),
  ].concat(restores ? [
    { operation: `differential (folds ${rounds} incrementals + a small tail)`, seconds: s(figures.differential) },
    { operation: 'restore of the full (CLI)', seconds: s(figures.fullRestore) },
    { operation: `restore full + ${rounds} incrementals (CLI)`, seconds: s(figures.chainRestore) },
    { operation: 'restore full + differential (CLI)', seconds: s(figures.diffRestore) },
    { operation: `apply ${rounds} incrementals (in process): ${median(figures.incRows)} rows; CPU s client ${s(figures.incCpu)}, server ${s(figures.incServerCpu)}`, seconds: s(figures.incApply) },
    { operation: `apply the differential (in process): ${median(figures.diffRows)} rows; CPU s client ${s(figures.diffCpu)}, server ${s(figures.diffServerCpu)}`, seconds: s(figures.diffApply) },
  ] : []));
  const verdict = (ok) => (ok ? 'OK' : 'MISSED');
  const ratio = median(figures.incremental) / median(figures.full);
  console.log(`\nscale ${scale} (${dbMB.toFixed(0)} MB), ${runs} run(s), medians:`);
  console.log(`  incremental / full time:          ${ratio.toFixed(3)}x  (goal <= 0.2x: ${verdict(ratio <= 0.2)})`);
  const cpuRatio = (median(figures.incCliCpu) + median(figures.incSrvCpu)) / (median(figures.fullCliCpu) + median(figures.fullSrvCpu));
  console.log(`  incremental / full CPU (CLI + server): ${cpuRatio.toFixed(3)}x; CLI alone ${(median(figures.incCliCpu) / median(figures.fullCliCpu)).toFixed(3)}x`);
  if (baselineBin) {
    const m = (xs) => median(xs).toFixed(2);
    console.log(`  baseline (${baselineBin}), same changes, alternating: full ${m(before.full)} s (CPU CLI + server ${m(before.fullCpu)}), incremental ${m(before.incremental)} s (CPU ${m(before.incCpu)}; WAL sender ${m(before.incWalSender)}):`);
    console.log(`    incremental / full time ${(median(before.incremental) / median(before.full)).toFixed(3)}x, CPU ${(median(before.incCpu) / median(before.fullCpu)).toFixed(3)}x; this build's incremental CPU (CLI + server) ${(median(figures.incCliCpu) + median(figures.incSrvCpu)).toFixed(2)} s`);
    console.log(`    per run, baseline incremental s: ${before.incremental.map((x) => x.toFixed(2)).join(' ')}; this build: ${figures.incremental.map((x) => x.toFixed(2)).join(' ')}`);
  }
  if (restores) {
    const rate = median(figures.incRate);
    console.log(`  apply rows/s (incrementals):      ${rate.toFixed(0)}  (goal >= 50,000: ${verdict(rate >= 50_000)}); differential: ${median(figures.diffRate).toFixed(0)} rows/s`);
    const cpuBound = median(figures.incRows) / Math.max(median(figures.incCpu), median(figures.incServerCpu));
    console.log(`    rows per CPU second of the busier side (client and server pipelined, each on a core): ${cpuBound.toFixed(0)}`);
  }
  console.log(`  client peak RSS (every CLI run):  ${peakRss.toFixed(0)} MB  (goal <= 200 MB: ${verdict(peakRss <= 200)}); by command: ${Object.entries(peaks).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`);
  if (measureTps) {
    const tpsAlone = median(alone);
    const tpsInc = median(withInc);
    const tpsFull = median(withFull);
    console.log(`  pgbench TPS alone ${tpsAlone.toFixed(0)}; with incrementals back to back ${tpsInc.toFixed(0)} (${((tpsInc / tpsAlone) * 100).toFixed(0)} %, ${incs} backups; goal >= 90 %: ${verdict(tpsInc >= 0.9 * tpsAlone)}); with fulls back to back ${tpsFull.toFixed(0)} (${((tpsFull / tpsAlone) * 100).toFixed(0)} %, ${fulls} backups)`);
    console.log(`    TPS per run, alone: ${alone.map((x) => x.toFixed(0)).join(' ')}; with incrementals: ${withInc.map((x) => x.toFixed(0)).join(' ')}; with fulls: ${withFull.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`  pgbench TPS during ONE backup / TPS in the ${ALONE_SECONDS} s before and after it (medians; goal >= 90 %):`);
    for (const [label, v] of single) {
      const pct = median(v.ratio) * 100;
      console.log(`    ${label.padEnd(36)} ${pct.toFixed(0).padStart(3)} % (${verdict(pct >= 90)}; per run ${v.ratio.map((x) => (x * 100).toFixed(0)).join(' ')}); TPS ${median(v.during).toFixed(0)} vs ${median(v.alone).toFixed(0)}; backup ${median(v.wall).toFixed(2)} s wall, CLI CPU ${median(v.cpu).toFixed(2)} s; load ${v.load.map((x) => x.toFixed(1)).join(' ')}`);
    }
  }
  console.log(`  restores equal to the source: ${mismatches === 0 ? 'all' : `${mismatches} DIFFER`}`);
  console.log(`  load average (1/5/15 min) at the end: ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  if (mismatches > 0) process.exitCode = 1;
} finally {
  server.kill('SIGINT');
  await new Promise((r) => server.once('exit', r));
  rmSync(work, { recursive: true, force: true });
}
