#!/usr/bin/env node
// Peak RSS of the built CLI for every engine and target (issues 20 and 23: ≤ 200 MB everywhere, at every size).
// Cases: SQLite full backup, full restore and chain restore (full + incrementals); PostgreSQL and MariaDB
// backup + restore (throwaway servers); a SQLite backup fanned out to the S3 (s3rver) and Azure (azurite)
// emulators at once. Each case runs --runs times (medians; the peak column is the highest run) and prints
// the CLI process's own VmHWM, the sum with its children (SQLite's page reader), and CPU seconds of the
// CLI tree and of the server.
//
//   npm run build && node bench/rss.mjs [--cases sqlite,pg,mysql,cloud] [--sqlite-mb 1000] [--pg-mb 300]
//     [--mysql-mb 300] [--cloud-mb 300] [--sqlite-cases backup,restore,chain] [--cloud-cases fanout,s3,azure,restore] [--runs 3] [--work /tmp/rss] [--baseline DIR] [--keep] [--json FILE]
// --baseline DIR also runs DIR/bin/dbbackup.js (a copy of another build) in the same rounds, alternating
// which goes first: before/after figures from one invocation on the same data.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measure, printTable, sizeMB, treeCpuSeconds } from './measure.mjs';
import { generate as generateMysql, startBenchServer } from './mysql-data.mjs';
import { buildSql } from './pg-data.mjs';
import { buildSqliteBenchDb } from './sqlite-data.mjs';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const { values: o } = parseArgs({
  options: {
    cases: { type: 'string', default: 'sqlite,pg,mysql,cloud' },
    'sqlite-mb': { type: 'string', default: '1000' },
    'pg-mb': { type: 'string', default: '300' },
    'mysql-mb': { type: 'string', default: '300' },
    'cloud-mb': { type: 'string', default: '300' },
    'cloud-cases': { type: 'string', default: 'fanout,s3,azure,restore' },
    'sqlite-cases': { type: 'string', default: 'backup,restore,chain' },
    runs: { type: 'string', default: '3' },
    work: { type: 'string', default: '/tmp/rss' },
    baseline: { type: 'string' },
    keep: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const runs = Number(o.runs);
const cases = o.cases.split(',');
const work = o.work;
mkdirSync(work, { recursive: true });
chmodSync(work, 0o711); // the postgres user must reach its folder inside
const bins = { ours: join(root, 'bin', 'dbbackup.js'), ...(o.baseline ? { base: join(o.baseline, 'bin', 'dbbackup.js') } : {}) };
const env = { ...process.env, DBBACKUP_DATA_DIR: join(work, 'catalog'), PGPASSWORD: '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
const results = [];

/**
 * Runs `step(bin, who, run)` for every build, `runs` times, alternating the order; `prepare` (untimed) runs
 * before each. `server` is a pid whose CPU is counted alongside.
 */
async function bench(name, step, { prepare, server } = {}) {
  const got = Object.fromEntries(Object.keys(bins).map((who) => [who, []]));
  for (let run = 0; run < runs; run++) {
    const order = Object.keys(bins);
    if (run % 2 === 1) order.reverse();
    for (const who of order) {
      if (prepare) await prepare(who, run);
      const before = server ? treeCpuSeconds(server) : 0;
      const r = await step(bins[who], who, run);
      got[who].push({ ...r, serverCpu: server ? treeCpuSeconds(server) - before : 0 });
    }
  }
  for (const [who, list] of Object.entries(got)) {
    const row = {
      case: name,
      build: who,
      'main RSS MB (med/max)': `${median(list.map((r) => r.mainPeakRssMB)).toFixed(0)}/${Math.max(...list.map((r) => r.mainPeakRssMB)).toFixed(0)}`,
      'tree RSS MB (med)': median(list.map((r) => r.peakRssMB)).toFixed(0),
      'CPU s (med)': median(list.map((r) => r.cpuSeconds)).toFixed(2),
      'server CPU s': server ? median(list.map((r) => r.serverCpu)).toFixed(2) : '-',
      'wall s (med)': median(list.map((r) => r.seconds)).toFixed(2),
      load: load(),
    };
    results.push({ ...row, runs: list });
    console.log(Object.values(row).join('  '));
  }
}

// RSS_NODE_ARGS: node options for the CLI runs (e.g. `--import probe.mjs`, whose stderr lines starting `[mem]` are shown).
const nodeArgs = (process.env.RSS_NODE_ARGS ?? '').split(' ').filter(Boolean);
const cli = async (bin, args, extraEnv = {}) => {
  const r = await measure(process.execPath, [...nodeArgs, bin, ...args, '--quiet'], { env: { ...env, ...extraEnv }, cwd: work });
  for (const line of r.stderr.split('\n')) if (line.startsWith('[mem]')) console.log(`  ${line}`);
  return r;
};

async function sqliteCases() {
  const dir = join(work, 'sqlite');
  mkdirSync(dir, { recursive: true });
  const db = join(dir, 'bench.db');
  if (!existsSync(db)) {
    console.log(`building a ~${o['sqlite-mb']} MB SQLite database…`);
    buildSqliteBenchDb(db, Number(o['sqlite-mb']));
  }
  console.log(`SQLite database: ${sizeMB(db).toFixed(0)} MB`);
  const repo = (who) => join(dir, `repo-${who}`);
  const restored = join(dir, 'restored.db');
  const clean = () => ['', '-wal', '-shm'].forEach((s) => rmSync(restored + s, { force: true }));
  const want = o['sqlite-cases'].split(',');
  if (want.includes('backup') || (want.includes('restore') && !Object.keys(bins).every((who) => existsSync(repo(who))))) await bench('sqlite full backup', (bin, who) => cli(bin, ['backup', '--db', 'sqlite', '--file', db, '--out', repo(who)]), {
    prepare: (who) => rmSync(repo(who), { recursive: true, force: true }),
  });
  if (want.includes('restore')) await bench('sqlite full restore', (bin, who) => cli(bin, ['restore', '--from', repo(who), '--backup', 'latest', '--db', 'sqlite', '--database', restored]), { prepare: clean });
  // Two incrementals over 1 % changed rows each, on a copy (the source file stays as it was for the next build).
  const Database = require('better-sqlite3');
  for (const who of want.includes('chain') ? Object.keys(bins) : []) {
    const copy = join(dir, `chain-${who}.db`);
    execFileSync('cp', [db, copy]);
    rmSync(repo(`chain-${who}`), { recursive: true, force: true });
    await cli(bins[who], ['backup', '--db', 'sqlite', '--file', copy, '--out', repo(`chain-${who}`)]);
    for (let k = 0; k < 2; k++) {
      const h = new Database(copy);
      h.prepare('UPDATE events SET amount = amount + 1 WHERE id % 100 = ?').run(k);
      h.close();
      await cli(bins[who], ['backup', '--type', 'incremental', '--db', 'sqlite', '--file', copy, '--out', repo(`chain-${who}`)]);
    }
    rmSync(copy, { force: true });
  }
  if (want.includes('chain')) await bench('sqlite chain restore (full + 2 incr)', (bin, who) => cli(bin, ['restore', '--from', repo(`chain-${who}`), '--backup', 'latest', '--db', 'sqlite', '--database', restored]), { prepare: clean });
  clean();
  return db;
}

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function pgCases() {
  const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
  const dir = join(work, 'pg');
  mkdirSync(dir, { recursive: true });
  const ids = userInfo().uid === 0
    ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
    : { uid: userInfo().uid, gid: userInfo().gid };
  chownSync(dir, ids.uid, ids.gid);
  const fresh = !existsSync(join(dir, 'data'));
  if (fresh) execFileSync(join(PG_BIN, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...ids, stdio: 'ignore', cwd: '/tmp' });
  const port = await freePort();
  const server = spawn(join(PG_BIN, 'postgres'), ['-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'shared_buffers=256MB', '-c', 'maintenance_work_mem=256MB', '-c', 'max_wal_size=4GB', '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'autovacuum=off'],
  { ...ids, stdio: 'ignore' });
  const url = (db) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const psql = (db, sql) => execFileSync(join(PG_BIN, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', db, '-qAt', '-c', sql]).toString().trim();
  for (let i = 0; ; i++) {
    try { psql('postgres', 'SELECT 1'); break; } catch (err) { if (i > 100) throw err; await new Promise((r) => setTimeout(r, 100)); }
  }
  try {
    if (fresh) {
      console.log(`building a ~${o['pg-mb']} MB PostgreSQL database…`);
      psql('postgres', 'CREATE DATABASE bench');
      execFileSync(join(PG_BIN, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'bench', '-q', '-v', 'ON_ERROR_STOP=1'], { input: buildSql('realistic', Number(o['pg-mb']) / 1000) + '\nVACUUM ANALYZE;', stdio: ['pipe', 'ignore', 'inherit'] });
    }
    console.log(`PostgreSQL database: ${(Number(psql('postgres', "SELECT pg_database_size('bench')")) / 1e6).toFixed(0)} MB`);
    const repo = (who) => join(dir, `repo-${who}`);
    await bench('postgres backup', (bin, who) => cli(bin, ['backup', '--db', 'postgres', '--url', url('bench'), '--out', repo(who)]), {
      prepare: (who) => { rmSync(repo(who), { recursive: true, force: true }); psql('postgres', 'CHECKPOINT'); },
      server: server.pid,
    });
    await bench('postgres restore', (bin, who) => cli(bin, ['restore', '--from', repo(who), '--backup', 'latest', '--db', 'postgres', '--url', url('restored')]), {
      prepare: () => { psql('postgres', 'DROP DATABASE IF EXISTS restored'); psql('postgres', 'CREATE DATABASE restored'); psql('postgres', 'CHECKPOINT'); },
      server: server.pid,
    });
    psql('postgres', 'DROP DATABASE IF EXISTS restored');
  } finally {
    await new Promise((r) => { server.once('exit', r); server.kill('SIGINT'); });
  }
}

async function mysqlCases() {
  const dir = join(work, 'mysql');
  mkdirSync(dir, { recursive: true });
  const fresh = !existsSync(join(dir, 'data'));
  const server = await startBenchServer(dir);
  try {
    if (fresh) {
      console.log(`building a ~${o['mysql-mb']} MB MariaDB database…`);
      await generateMysql(server.sql, Number(o['mysql-mb']));
    }
    const url = (db) => `mysql://root@127.0.0.1:${server.port}/${db}`;
    const repo = (who) => join(dir, `repo-${who}`);
    await bench('mariadb backup', (bin, who) => cli(bin, ['backup', '--db', 'mysql', '--url', url('bench'), '--out', repo(who)]), {
      prepare: (who) => rmSync(repo(who), { recursive: true, force: true }),
      server: server.pid,
    });
    await bench('mariadb restore', (bin, who) => cli(bin, ['restore', '--from', repo(who), '--backup', 'latest', '--db', 'mysql', '--url', url('restored'), '--create']), {
      prepare: () => server.sql('DROP DATABASE IF EXISTS restored'),
      server: server.pid,
    });
    await server.sql('DROP DATABASE IF EXISTS restored; RESET MASTER');
  } finally {
    await server.stop();
  }
}

const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A server process that prints a line `ready(line)` recognises; returns { child, value }. */
function startProcess(args, ready, options = {}) {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], ...options });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const value = buf.split('\n').map(ready).find((v) => v !== undefined);
      if (value !== undefined) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({ child, value });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

const stop = (child) => new Promise((r) => { if (child.exitCode !== null) return r(); child.once('exit', r); child.kill('SIGTERM'); });

async function cloudCases(sqliteDb) {
  const dir = join(work, 'cloud');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 's3'), { recursive: true });
  mkdirSync(join(dir, 'azure'), { recursive: true });
  let db = sqliteDb;
  if (!db || Number(o['cloud-mb']) !== Number(o['sqlite-mb'])) {
    db = join(dir, 'bench.db');
    console.log(`building a ~${o['cloud-mb']} MB SQLite database…`);
    buildSqliteBenchDb(db, Number(o['cloud-mb']));
  }
  const s3 = await startProcess(['--openssl-legacy-provider', '-e', `
    const S3rver = require(process.cwd() + '/node_modules/s3rver');
    const s = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: process.argv[1], configureBuckets: [{ name: 'bench' }] });
    s.run().then(({ port }) => console.log('PORT ' + port));
    process.on('SIGTERM', () => s.close().then(() => process.exit(0)));`, join(dir, 's3')], (l) => /^PORT (\d+)/.exec(l)?.[1]);
  const azPort = await freePort();
  const az = await startProcess([join(root, 'node_modules/azurite/dist/src/blob/main.js'), '--blobHost', '127.0.0.1', '--blobPort', String(azPort),
    '--location', join(dir, 'azure'), '--silent', '--skipApiVersionCheck', '--disableTelemetry', '--loose'], (l) => (/successfully listens on/.test(l) ? azPort : undefined));
  try {
    const azEndpoint = `http://127.0.0.1:${azPort}/devstoreaccount1`;
    const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
    await new BlobServiceClient(azEndpoint, new StorageSharedKeyCredential('devstoreaccount1', AZURITE_KEY)).getContainerClient('bench').create();
    const cloudEnv = {
      DBBACKUP_S3_ENDPOINT: `http://127.0.0.1:${s3.value}`, DBBACKUP_S3_CHECKSUM: 'WHEN_REQUIRED', AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(dir, 'no-aws-config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
      DBBACKUP_AZURE_ENDPOINT: azEndpoint, AZURE_STORAGE_KEY: AZURITE_KEY,
    };
    console.log(`cloud: SQLite database ${sizeMB(db).toFixed(0)} MB to s3rver and azurite at once`);
    let n = 0;
    const both = (bin, who, run) => {
      const prefix = `${who}-${run}-${n++}`;
      return cli(bin, ['backup', '--db', 'sqlite', '--file', db, '--out', `s3://bench/${prefix}`, '--out', `azure://devstoreaccount1/bench/${prefix}`], cloudEnv);
    };
    const want = o['cloud-cases'].split(',');
    if (want.includes('fanout')) await bench('sqlite backup → s3 + azure (fan-out)', both);
    if (want.includes('s3') || want.includes('restore')) await bench('sqlite backup → s3', (bin, who, run) => cli(bin, ['backup', '--db', 'sqlite', '--file', db, '--out', `s3://bench/s3only-${who}-${run}`], cloudEnv));
    if (want.includes('azure')) await bench('sqlite backup → azure', (bin, who, run) => cli(bin, ['backup', '--db', 'sqlite', '--file', db, '--out', `azure://devstoreaccount1/bench/azonly-${who}-${run}`], cloudEnv));
    if (want.includes('restore')) await bench('sqlite restore ← s3', (bin, who) => cli(bin, ['restore', '--from', `s3://bench/s3only-${who}-0`, '--backup', 'latest', '--db', 'sqlite', '--database', join(dir, 'restored.db')], cloudEnv), {
      prepare: () => rmSync(join(dir, 'restored.db'), { force: true }),
    });
  } finally {
    await Promise.all([stop(s3.child), stop(az.child)]);
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

let sqliteDb;
if (cases.includes('sqlite')) sqliteDb = await sqliteCases();
if (cases.includes('pg')) await pgCases();
if (cases.includes('mysql')) await mysqlCases();
if (cases.includes('cloud')) await cloudCases(sqliteDb);
console.log('');
printTable(results.map(({ runs: _, ...row }) => row));
if (o.json) writeFileSync(o.json, JSON.stringify({ at: new Date().toISOString(), options: o, results }, null, 2));
if (!o.keep) for (const d of ['sqlite', 'pg', 'mysql', 'catalog']) rmSync(join(work, d), { recursive: true, force: true });
