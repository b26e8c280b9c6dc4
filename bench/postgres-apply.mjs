#!/usr/bin/env node
// PostgreSQL change apply alone: rows/s of applying an incremental's change log to a restored full, with
// the client's and the server's CPU seconds, statements sent and round trips (sends with nothing in flight).
// Usage: node bench/postgres-apply.mjs [--work DIR] [--scale S=10] [--txns N=30000] [--runs R=3]
//          [--baseline DIR]... [--prof DIR] [--node-flags 'FLAGS']
//   needs `npm run build` (and DIR/dist for each --baseline: another build, e.g. a copy of main's dist/).
//
// The dataset (built once in --work, kept for the next invocation; default a temp dir, removed after): a
// pgbench database of scale S, a full backup with --capture changes, then N pgbench transactions (two
// clients; each updates one account, teller and branch and inserts a history row: 4 row changes) and one
// incremental of them (~4 N row changes), then the full restored once into `base`. Each measurement
// copies `base` (CREATE DATABASE … TEMPLATE) and applies the incremental to the copy in a child process
// of the build measured (this one, and each --baseline, alternating), timed alone; the copy's content is
// compared with the source. Figures are medians of R runs per build. --prof DIR writes each child's
// `node --cpu-prof` profile there; --node-flags passes node/V8 flags to each child.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { treeCpuSeconds } from './measure.mjs';

const self = fileURLToPath(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);

if (args[0] === '--child') await child(...args.slice(1));
else await main();

/** Applies the incrementals of `repo` to database `db` with the build at `dir`; prints one JSON line. */
async function child(dir, repo, port, db) {
  const dist = (p) => import(pathToFileURL(join(dir, 'dist', p)).href);
  const { PostgresConnector } = await dist('adapters/connectors/postgres/postgres-connector.js');
  const { LocalRepositoryOpener } = await dist('adapters/storage/repository-opener.js');
  const { MapCodecRegistry } = await dist('adapters/compression/codec-registry.js');
  const { ZstdCodec } = await dist('adapters/compression/zstd-codec.js');
  const { NoneCodec } = await dist('adapters/compression/none-codec.js');
  const { PartReader } = await dist('application/pipeline/part-reader.js');
  const { scanRepository } = await dist('application/services/backup-repository.js');
  // Statements and round trips: every query sent, and those sent with none in flight.
  let statements = 0;
  let trips = 0;
  let inFlight = 0;
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (...a) {
    statements++;
    if (inFlight === 0) trips++;
    inFlight++;
    const r = query.apply(this, a);
    if (r && typeof r.then === 'function') r.then(() => inFlight--, () => inFlight--);
    return r;
  };
  const { store } = await new LocalRepositoryOpener().open(repo, 'read');
  const manifests = (await scanRepository(store)).manifests.filter((m) => m.kind === 'incremental').sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  const codecs = new MapCodecRegistry([new ZstdCodec(), new NoneCodec()]);
  const session = await new PostgresConnector().connect({ engine: 'postgres', host: '127.0.0.1', port: Number(port), user: 'postgres', database: db, options: {} }, 'restore');
  statements = 0;
  trips = 0;
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  let rows = 0;
  for (const m of manifests) rows += (await session.changes.applyChanges(new PartReader(store, m, codecs, undefined, undefined, 'when-needed'), undefined, new AbortController().signal)).rows;
  const used = process.cpuUsage(cpu);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await session.close();
  process.stdout.write(`${JSON.stringify({ rows, seconds, cpu: (used.user + used.system) / 1e6, statements, trips })}\n`);
}

async function main() {
  const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
  const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
  const scale = Number(opt('--scale', 10));
  const txns = Number(opt('--txns', 30_000));
  const runs = Number(opt('--runs', 3));
  const prof = args.includes('--prof') ? resolve(opt('--prof')) : undefined;
  const childFlags = args.includes('--node-flags') ? opt('--node-flags').split(' ').filter(Boolean) : [];
  const builds = [{ name: 'this build', dir: root }];
  args.forEach((a, i) => a === '--baseline' && builds.push({ name: `baseline ${args[i + 1]}`, dir: resolve(args[i + 1]) }));
  const keep = args.includes('--work');
  const work = keep ? resolve(opt('--work')) : mkdtempSync('/tmp/pga-');
  mkdirSync(work, { recursive: true });
  if (prof) mkdirSync(prof, { recursive: true });
  const ids = userInfo().uid === 0
    ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
    : { uid: userInfo().uid, gid: userInfo().gid };
  chownSync(work, ids.uid, ids.gid);
  const stateFile = join(work, 'dataset.json');
  const ready = existsSync(stateFile) && JSON.parse(readFileSync(stateFile, 'utf8'));
  if (ready && (ready.scale !== scale || ready.txns !== txns)) throw new Error(`${work} holds a dataset of scale ${ready.scale}, ${ready.txns} transactions: use another --work`);
  const port = await new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
  if (!ready) {
    rmSync(join(work, 'data'), { recursive: true, force: true });
    execFileSync(join(PG_BIN, 'initdb'), ['-D', join(work, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...ids, stdio: 'ignore', cwd: '/tmp' });
  }
  const server = spawn(join(PG_BIN, 'postgres'), ['-D', join(work, 'data'), '-p', String(port), '-k', work, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'shared_buffers=256MB', '-c', 'max_wal_size=4GB', '-c', 'fsync=off', '-c', 'full_page_writes=off',
    '-c', 'wal_level=logical', '-c', 'max_replication_slots=10', '-c', 'max_wal_senders=10'], { ...ids, stdio: 'ignore' });
  const url = (db) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const pgArgs = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
  const sql = async (db, text) => {
    for (let i = 0; ; i++) {
      const c = new pg.Client({ connectionString: url(db) });
      c.on('error', () => {});
      try {
        await c.connect();
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      try {
        return (await c.query(text)).rows;
      } finally {
        await c.end();
      }
    }
  };
  const hashes = async (db) => JSON.stringify(await sql(db, ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history']
    .map((t) => `SELECT '${t}' AS t, count(*)::int AS n, md5(coalesce(string_agg(md5(x::text), '' ORDER BY md5(x::text)), '')) AS h FROM ${t} x`).join(' UNION ALL ')));
  const env = { ...process.env, DBBACKUP_DATA_DIR: join(work, 'catalog'), PGPASSWORD: '' };
  const cli = (...a) => execFileSync(process.execPath, [join(root, 'bin', 'dbbackup.js'), ...a, '--quiet'], { env, cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
  const repo = join(work, 'repo');
  try {
    await sql('postgres', 'SELECT 1');
    if (!ready) {
      await sql('postgres', 'CREATE DATABASE bench');
      console.log(`building the dataset in ${work}: pgbench scale ${scale}, ${txns} transactions…`);
      execFileSync(join(PG_BIN, 'pgbench'), [...pgArgs, '-i', '-q', '-s', String(scale), 'bench'], { stdio: 'ignore' });
      await sql('bench', 'ALTER TABLE pgbench_history REPLICA IDENTITY FULL');
      cli('backup', '--db', 'postgres', '--url', url('bench'), '--out', repo, '--capture', 'changes', '--compress', 'zstd');
      execFileSync(join(PG_BIN, 'pgbench'), [...pgArgs, '-n', '-c', '2', '-t', String(txns / 2), 'bench'], { stdio: 'ignore' });
      cli('backup', '--db', 'postgres', '--url', url('bench'), '--out', repo, '--type', 'incremental');
      await sql('bench', 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active');
      await sql('postgres', 'CREATE DATABASE base');
      const full = execFileSync(process.execPath, [join(root, 'bin', 'dbbackup.js'), 'list', '--from', repo, '--json'], { env, cwd: work }).toString();
      const id = JSON.parse(full).backups.find((b) => b.kind === 'full').id;
      cli('restore', '--from', repo, '--backup', id, '--db', 'postgres', '--url', url('base'));
      await sql('base', 'VACUUM ANALYZE');
      writeFileSync(stateFile, JSON.stringify({ scale, txns, source: await hashes('bench') }));
    }
    const source = JSON.parse(readFileSync(stateFile, 'utf8')).source;
    const results = new Map(builds.map((b) => [b.name, []]));
    for (let run = 0; run < runs; run++) {
      for (const b of run % 2 === 0 ? builds : [...builds].reverse()) {
        const db = `apply_${run}`;
        await sql('postgres', `DROP DATABASE IF EXISTS ${db}`);
        await sql('postgres', `CREATE DATABASE ${db} TEMPLATE base`);
        execFileSync('sync');
        const serverBefore = treeCpuSeconds(server.pid);
        const flags = [...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof, '--cpu-prof-name', `${b.name.replace(/\W+/g, '_')}_${run}.cpuprofile`] : []), ...childFlags];
        const out = execFileSync(process.execPath, [...flags, self, '--child', b.dir, repo, String(port), db], { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28 }).toString();
        const lines = out.trim().split('\n');
        const r = JSON.parse(lines.pop());
        if (lines.length > 0) writeFileSync(join(work, `child_${b.name.replace(/\W+/g, '_')}_${run}.txt`), `${lines.join('\n')}\n`);
        r.serverCpu = treeCpuSeconds(server.pid) - serverBefore;
        r.same = (await hashes(db)) === source;
        await sql('postgres', `DROP DATABASE ${db}`);
        results.get(b.name).push(r);
        console.log(`${b.name} run ${run + 1}: ${r.rows} rows in ${r.seconds.toFixed(2)} s = ${(r.rows / r.seconds).toFixed(0)} rows/s; CPU s client ${r.cpu.toFixed(2)}, server ${r.serverCpu.toFixed(2)}; ${r.statements} statements, ${r.trips} round trips; ${r.same ? 'equal to the source' : 'DIFFERS from the source'}`);
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(`\nmedians of ${runs} (load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}):`);
    for (const [name, rs] of results) {
      const m = (f) => median(rs.map(f));
      console.log(`  ${name}: ${m((r) => r.rows / r.seconds).toFixed(0)} rows/s (${m((r) => r.seconds).toFixed(2)} s), CPU s client ${m((r) => r.cpu).toFixed(2)}, server ${m((r) => r.serverCpu).toFixed(2)}; rows per CPU s (client + server) ${m((r) => r.rows / (r.cpu + r.serverCpu)).toFixed(0)}; ${m((r) => r.statements)} statements, ${m((r) => r.trips)} round trips; ${rs.every((r) => r.same) ? 'all equal to the source' : 'SOME DIFFER'}`);
    }
    if ([...results.values()].flat().some((r) => !r.same)) process.exitCode = 1;
  } finally {
    server.kill('SIGINT');
    await new Promise((r) => server.once('exit', r));
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}
