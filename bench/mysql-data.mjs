// The MySQL bench server and databases, shared by the MariaDB benches: a throwaway MariaDB (binary
// log on, ROW) in `dir`, and three data profiles (app, sysbench, wide) each bench generates itself.
import { execFile, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Starts (installing on first use) a MariaDB with its files in `dir`; `sql(q)` runs q as root and returns the text. */
export async function startBenchServer(dir) {
  const sock = join(dir, 'sock');
  const datadir = join(dir, 'data');
  const exists = await stat(datadir).then(() => true, () => false);
  if (!exists) await run('mariadb-install-db', ['--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--user=root']);
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const child = spawn('/usr/sbin/mariadbd', [
    '--no-defaults', `--datadir=${datadir}`, `--socket=${sock}`, `--port=${port}`, '--bind-address=127.0.0.1',
    `--pid-file=${join(dir, 'pid')}`, `--log-bin=${join(dir, 'binlog')}`, '--server-id=1', '--binlog-format=ROW', '--user=root',
    '--innodb-buffer-pool-size=1G', '--innodb-log-file-size=512M', '--max-allowed-packet=256M',
    '--innodb-flush-log-at-trx-commit=2', '--sync-binlog=0', '--local-infile=1',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`mariadbd exited:\n${stderr}`);
    try {
      await run('mariadb', ['--no-defaults', '-S', sock, '-uroot', '-e', 'SELECT 1']);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    port,
    sock,
    pid: child.pid,
    sql: (q) => run('mariadb', ['--no-defaults', '-S', sock, '-uroot', '-N', '-B', '-e', q], { maxBuffer: 1 << 26 }).then((r) => r.stdout.trim()),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}


/** Tables shaped like an application's: narrow rows with secondary keys, JSON-ish text, blobs. */
export async function generate(sql, targetMb) {
  const scale = targetMb / 1024;
  const n = (x) => Math.max(1000, Math.round(x * scale));
  await sql(`CREATE DATABASE bench CHARACTER SET utf8mb4;
    CREATE TABLE bench.orders (id INT PRIMARY KEY, customer_id INT NOT NULL, created DATETIME(6) NOT NULL, amount DECIMAL(12,2),
      status VARCHAR(16) NOT NULL, note VARCHAR(200), KEY k_customer (customer_id), KEY k_created (created));
    CREATE TABLE bench.events (id BIGINT PRIMARY KEY, kind VARCHAR(20) NOT NULL, payload TEXT, at TIMESTAMP(3) NOT NULL, KEY k_kind (kind, at));
    CREATE TABLE bench.users (id INT PRIMARY KEY, email VARCHAR(120) NOT NULL, name VARCHAR(80), bio TEXT, score DOUBLE, UNIQUE KEY u_email (email));
    CREATE TABLE bench.files (id INT PRIMARY KEY, name VARCHAR(100), data BLOB);`);
  const chunks = (total, step) => Array.from({ length: Math.ceil(total / step) }, (_, i) => [i * step + 1, Math.min(total, (i + 1) * step)]);
  for (const [lo, hi] of chunks(n(3_000_000), 500_000)) {
    await sql(`INSERT INTO bench.orders SELECT seq, seq % 100003, '2020-01-01' + INTERVAL seq SECOND + INTERVAL (seq % 999999) MICROSECOND,
      (seq % 100000) / 100, ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'returned'), CONCAT('note for order ', seq, REPEAT(' lorem ipsum', seq % 6))
      FROM bench.seq_${lo}_to_${hi}`);
  }
  for (const [lo, hi] of chunks(n(1_200_000), 300_000)) {
    await sql(`INSERT INTO bench.events SELECT seq, ELT(1 + seq % 5, 'click', 'view', 'buy', 'login', 'logout'),
      CONCAT('{"user": ', seq % 50000, ', "path": "/p/', seq, '", "tags": ["a\\\\tb", "ü"], "pad": "', REPEAT(MD5(seq), 6), '"}'),
      '2021-01-01' + INTERVAL seq SECOND FROM bench.seq_${lo}_to_${hi}`);
  }
  for (const [lo, hi] of chunks(n(1_000_000), 500_000)) {
    await sql(`INSERT INTO bench.users SELECT seq, CONCAT('user', seq, '@example.com'), CONCAT('User ', seq),
      CONCAT('bio\\n', REPEAT(SHA1(seq), 2)), seq / 7 FROM bench.seq_${lo}_to_${hi}`);
  }
  for (const [lo, hi] of chunks(n(100_000), 50_000)) {
    await sql(`INSERT INTO bench.files SELECT seq, CONCAT('file', seq, '.bin'), RANDOM_BYTES(1000) FROM bench.seq_${lo}_to_${hi}`);
  }
}

/** True when CHECKSUM TABLE of the four tables is the same in every database of `dbs`. */
export async function compare(sql, dbs) {
  const sums = [];
  for (const db of dbs) sums.push(await sql(`CHECKSUM TABLE ${db}.orders, ${db}.events, ${db}.users, ${db}.files EXTENDED`));
  return sums.every((s) => s.replace(/^\S+?\./gm, '') === sums[0].replace(/^\S+?\./gm, ''));
}


/** The database holding a profile's tables. */
export function profileDatabase(profile) {
  return profile === 'app' ? 'bench' : `bench_${profile}`;
}

/**
 * Creates profile `profile` (app | sysbench | wide, ≈ `mb` MB of dump text) unless its database
 * exists; returns true when it generated it. The data never changes once made: a kept bench folder
 * (MYSQL_BENCH_DIR) gives before/after runs the same rows.
 */
export async function generateProfile(sql, profile, mb) {
  const db = profileDatabase(profile);
  if ((await sql(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${db}'`)) !== '0') return false;
  const make = { app: (q, _db, m) => generate(q, m), sysbench, wide }[profile];
  if (!make) throw new Error(`unknown profile ${profile}: app, sysbench or wide`);
  await make(sql, db, mb);
  return true;
}

/** The sysbench oltp prepare shape: sbtest1..2, random digit groups in c and pad, KEY k_1(k). */
async function sysbench(sql, db, mb) {
  const rows = Math.max(1000, Math.round((mb * 2 ** 20) / 2 / 200));
  const digits = (groups) => `CONCAT_WS('-', ${Array.from({ length: groups }, () => 'LPAD(FLOOR(RAND() * 99999999999), 11, 0)').join(', ')})`;
  await sql(`CREATE DATABASE ${db}`);
  for (const t of ['sbtest1', 'sbtest2']) {
    await sql(`CREATE TABLE ${db}.${t} (id INT NOT NULL AUTO_INCREMENT, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '',
      pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_1 (k)) ENGINE=InnoDB`);
    for (let lo = 1; lo <= rows; lo += 250_000) {
      const hi = Math.min(rows, lo + 249_999);
      await sql(`INSERT INTO ${db}.${t} (id, k, c, pad) SELECT seq, FLOOR(1 + RAND() * ${rows}), ${digits(10)}, ${digits(5)} FROM ${db}.seq_${lo}_to_${hi}`);
    }
  }
}

/** Wide rows with JSON, binary, decimal and temporal columns and two secondary keys (one unique). */
async function wide(sql, db, mb) {
  const rows = Math.max(1000, Math.round((mb * 2 ** 20) / 1500));
  await sql(`CREATE DATABASE ${db} CHARACTER SET utf8mb4;
    CREATE TABLE ${db}.docs (id BIGINT PRIMARY KEY, ref CHAR(36) NOT NULL, owner INT NOT NULL, created DATETIME(6) NOT NULL,
      price DECIMAL(20,6), doc JSON, raw VARBINARY(255), thumb BLOB, note TEXT,
      UNIQUE KEY u_ref (ref) COMMENT 'external id', KEY k_owner_created (owner, created)) ENGINE=InnoDB`);
  for (let lo = 1; lo <= rows; lo += 50_000) {
    const hi = Math.min(rows, lo + 49_999);
    await sql(`INSERT INTO ${db}.docs SELECT seq, UUID(), seq % 7919, '2022-01-01' + INTERVAL seq SECOND + INTERVAL (seq % 999999) MICROSECOND,
      (seq % 1000003) / 7, JSON_OBJECT('id', seq, 'name', CONCAT('doc "', seq, '"\\t'), 'tags', JSON_ARRAY('x', 'ü', seq % 13), 'pad', REPEAT(MD5(seq), 8)),
      RANDOM_BYTES(100), RANDOM_BYTES(600), IF(seq % 5 = 0, NULL, CONCAT('line1\\nline2\\\\', SHA1(seq))) FROM ${db}.seq_${lo}_to_${hi}`);
  }
}
