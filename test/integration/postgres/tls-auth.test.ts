import { type ChildProcess, execFileSync } from 'node:child_process';
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type CliResult, runCli } from '../../helpers/cli.js';
import { type PostgresServer, startPostgres } from '../../helpers/postgres-server.js';
import { startReplicate, stopReplicate } from '../../helpers/replicate-process.js';
import { type TerminalRun, runOnTerminal } from '../../helpers/terminal.js';
import { tempDir } from '../../helpers/temp.js';
import { tableHashes } from './fixtures.js';

/**
 * The PostgreSQL connection options of issue #3 against one real server that accepts TCP logins
 * only over TLS (pg_hba `hostssl`) with scram-sha-256: --sslmode as libpq spells it (verify-full
 * checks the CA and the host name, verify-ca only the CA) and the password sources (--password-env,
 * PGPASSWORD, PGPASSFILE/~/.pgpass, an interactive prompt on a terminal); `replicate` takes the same
 * connection flags (its walsender connection included). Runs the built CLI
 * (`npm run build` first). The server listens on 127.0.0.1 and 127.0.0.2; its certificate names only
 * 127.0.0.1 and localhost, so 127.0.0.2 is a host that the certificate does not cover.
 */

const PASSWORD = 'Tls-s3cret!pw';
const SUPERUSER_PASSWORD = 'super-Secret-9';

let server: PostgresServer;
let dir: Awaited<ReturnType<typeof tempDir>>;
let certs: Certificates;
let env: NodeJS.ProcessEnv;

interface Certificates {
  ca: string;
  otherCa: string;
  cert: string;
  key: string;
}

/** A CA, an unrelated CA, and a server certificate signed by the first for 127.0.0.1 and localhost. */
function makeCertificates(folder: string): Certificates {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: folder, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=dbbackup-test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=some-other-ca', '-keyout', 'other.key', '-out', 'other.pem');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1,DNS:localhost\\n" > ext.cnf'], { cwd: folder });
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext.cnf', '-out', 'server.pem');
  return { ca: join(folder, 'ca.pem'), otherCa: join(folder, 'other.pem'), cert: join(folder, 'server.pem'), key: join(folder, 'server.key') };
}

beforeAll(async () => {
  dir = await tempDir('dbb-pg-tls-');
  certs = makeCertificates(dir.path);
  server = await startPostgres(['-c', 'listen_addresses=127.0.0.1,127.0.0.2'], {
    ssl: { cert: certs.cert, key: certs.key },
    auth: 'scram-sha-256',
    password: SUPERUSER_PASSWORD,
  });
  await server.query(`CREATE ROLE backup_user LOGIN SUPERUSER PASSWORD '${PASSWORD}'`);
  await server.query('CREATE DATABASE shop');
  await server.query(
    `CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL, data bytea);
     INSERT INTO public.items SELECT i, 'item ' || i || ' ünï 😀', decode(md5(i::text), 'hex') FROM generate_series(1, 5000) i;`,
    [],
    'shop',
  );
  // No password or TLS setting of the machine's environment, and no ~/.pgpass or ~/.postgresql, may leak in.
  const home = join(dir.path, 'home');
  await mkdir(home);
  env = {
    HOME: home,
    DBBACKUP_DATA_DIR: join(dir.path, 'data'),
    PGPASSFILE: join(dir.path, 'no-such-pgpass'),
    ...Object.fromEntries(['PGPASSWORD', 'PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGSSLMODE', 'PGSSLROOTCERT', 'PGSSLCERT', 'PGSSLKEY'].map((k) => [k, undefined])),
  };
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await dir?.cleanup();
});

const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(args, { env: { ...env, ...extra }, cwd: dir.path });

/** `backup` of database shop as backup_user at `host`, into the repository folder `out`. */
function backup(host: string, out: string, flags: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return cli(['backup', '--db', 'postgres', '--url', `postgres://backup_user@${host}:${server.port}/shop`, '--out', out, ...flags], extra);
}

/** Asserts a clean failure: the exit code, one `error E_CODE: …` line, no stack trace, no password. */
function expectFailure(r: CliResult, exit: number, code: string): void {
  expect(r.code, r.stderr).toBe(exit);
  expect(r.stderr).toMatch(new RegExp(`^error ${code}: `));
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  for (const secret of [PASSWORD, SUPERUSER_PASSWORD, 'wrong-pass-123']) expect(r.stderr + r.stdout).not.toContain(secret);
}

function onTerminal(argv: string[], extra: NodeJS.ProcessEnv, prompt: RegExp, keys: string, timeoutMs?: number): Promise<TerminalRun> {
  return runOnTerminal(argv, { cwd: dir.path, env: { ...env, ...extra } }, prompt, keys, timeoutMs);
}

/** How many backups the repository folder `out` holds (`<source>/<id>/manifest.json`), read from disk. */
async function backupCount(out: string): Promise<number> {
  const sources = await readdir(join(dir.path, out)).catch(() => [] as string[]);
  let n = 0;
  for (const source of sources) {
    for (const id of await readdir(join(dir.path, out, source)).catch(() => [] as string[])) {
      if (await stat(join(dir.path, out, source, id, 'manifest.json')).then(() => true, () => false)) n++;
    }
  }
  return n;
}

function expectSuccess(r: CliResult): void {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

describe('PostgreSQL over TLS with scram-sha-256 (hostssl only)', () => {
  it('stores the role password as SCRAM and serves TLS only', async () => {
    const [role] = await server.query<{ p: string }>(`SELECT rolpassword AS p FROM pg_authid WHERE rolname = 'backup_user'`);
    expect(role!.p).toMatch(/^SCRAM-SHA-256\$/);
    const [ssl] = await server.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(ssl!.ssl).toBe(true);
  });

  it('sslmode=require connects without verifying the certificate', async () => {
    expectSuccess(await backup('127.0.0.1', 'require', ['--sslmode', 'require'], { PGPASSWORD: PASSWORD }));
    expect(await backupCount('require')).toBe(1);
  });

  it('sslmode=disable is refused by the hostssl-only server: exit 3, says TLS is required', async () => {
    const r = await backup('127.0.0.1', 'disable', ['--sslmode', 'disable'], { PGPASSWORD: PASSWORD });
    expectFailure(r, 3, 'E_AUTH');
    expect(r.stderr).toContain('no pg_hba.conf entry');
    expect(r.stderr).toContain('no encryption');
    expect(r.stderr).toMatch(/TLS only: connect with --sslmode require/);
    expect(r.stderr).not.toMatch(/Give the password/);
    expect(await backupCount('disable')).toBe(0);
  });

  it('verify-full with the right CA succeeds for 127.0.0.1 and for localhost', async () => {
    const [viaUrl, viaEnv] = await Promise.all([
      cli(['backup', '--db', 'postgres', '--url', `postgres://backup_user@127.0.0.1:${server.port}/shop?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.ca)}`, '--out', 'vf'], {
        PGPASSWORD: PASSWORD,
      }),
      backup('localhost', 'vf', ['--sslmode', 'verify-full'], { PGPASSWORD: PASSWORD, PGSSLROOTCERT: certs.ca }),
    ]);
    expectSuccess(viaUrl);
    expectSuccess(viaEnv);
    expect(await backupCount('vf')).toBe(2);
  });

  it('verify-full with another CA, or with no root certificate, fails: exit 3, names certificate verification', async () => {
    const [otherCa, noRoot] = await Promise.all([
      backup('127.0.0.1', 'vf-bad', ['--sslmode', 'verify-full'], { PGPASSWORD: PASSWORD, PGSSLROOTCERT: certs.otherCa }),
      // HOME has no ~/.postgresql/root.crt, and the machine's CAs do not know the test CA.
      backup('127.0.0.1', 'vf-bad', ['--sslmode', 'verify-full'], { PGPASSWORD: PASSWORD }),
    ]);
    for (const r of [otherCa, noRoot]) {
      expectFailure(r, 3, 'E_CONN_REFUSED');
      expect(r.stderr).toMatch(/TLS certificate of the PostgreSQL server at 127\.0\.0\.1:\d+ failed verification with --sslmode verify-full/);
      expect(r.stderr).toMatch(/sslrootcert=FILE in the --url, PGSSLROOTCERT or --ssl-ca/);
    }
    expect(otherCa.stderr).toMatch(/unable to verify the first certificate|unable to get local issuer certificate/);
    expect(await backupCount('vf-bad')).toBe(0);
  });

  it('a host the certificate does not name: verify-full fails, verify-ca succeeds (and still checks the CA)', async () => {
    // The CA as libpq's flag name (--sslrootcert), the environment variable being the other way.
    const tls = (sslmode: string, ca: string) => backup('127.0.0.2', 'other-host', ['--sslmode', sslmode, '--sslrootcert', ca], { PGPASSWORD: PASSWORD });
    const [full, verifyCa, wrongCa] = await Promise.all([tls('verify-full', certs.ca), tls('verify-ca', certs.ca), tls('verify-ca', certs.otherCa)]);
    expectFailure(full, 3, 'E_CONN_REFUSED');
    expect(full.stderr).toMatch(/failed verification: it does not name the host 127\.0\.0\.2/);
    expect(full.stderr).toContain("IP: 127.0.0.2 is not in the cert's list: 127.0.0.1");
    expectSuccess(verifyCa);
    expectFailure(wrongCa, 3, 'E_CONN_REFUSED');
    expect(wrongCa.stderr).toMatch(/failed verification with --sslmode verify-ca/);
    expect(await backupCount('other-host')).toBe(1);
  });

  it('round-trips a database over verify-full TLS with scram auth', async () => {
    const tls = { PGPASSWORD: PASSWORD, PGSSLROOTCERT: certs.ca };
    const b = await backup('localhost', 'roundtrip', ['--sslmode', 'verify-full', '--parallel', '2', '--json'], tls);
    expectSuccess(b);
    const { id } = JSON.parse(b.stdout) as { id: string };
    const r = await cli(
      ['restore', '--from', 'roundtrip', '--backup', id, '--db', 'postgres', '--url', `postgres://backup_user@localhost:${server.port}/shop_copy`, '--sslmode', 'verify-full', '--create', '--parallel', '2'],
      tls,
    );
    expectSuccess(r);
    const copy = await tableHashes(server, 'shop_copy');
    expect(copy['public.items']?.rows).toBe(5000);
    expect(copy).toEqual(await tableHashes(server, 'shop'));
  });
});

describe('PostgreSQL password sources', () => {
  const tls = ['--sslmode', 'verify-full'];
  const root = () => ({ PGSSLROOTCERT: certs.ca });

  it('--password-env VAR (which wins over PGPASSWORD), and PGPASSWORD alone', async () => {
    const [viaFlag, viaPgpassword] = await Promise.all([
      backup('127.0.0.1', 'pw-env', [...tls, '--password-env', 'MY_PG_PW'], { ...root(), MY_PG_PW: PASSWORD, PGPASSWORD: 'wrong-pass-123' }),
      backup('127.0.0.1', 'pw-env', tls, { ...root(), PGPASSWORD: PASSWORD }),
    ]);
    expectSuccess(viaFlag);
    expectSuccess(viaPgpassword);
    expect(await backupCount('pw-env')).toBe(2);
  });

  it('a 0600 PGPASSFILE is used; a 0644 one is ignored and the login fails cleanly', async () => {
    const pgpass = join(dir.path, 'pgpass');
    await writeFile(pgpass, `# comment\notherhost:*:*:*:nope\n127.0.0.1:${server.port}:shop:backup_user:${PASSWORD.replace(/[:\\]/g, '\\$&')}\n`);
    await chmod(pgpass, 0o600);
    expectSuccess(await backup('127.0.0.1', 'pw-file', tls, { ...root(), PGPASSFILE: pgpass }));

    await chmod(pgpass, 0o644);
    const ignored = await backup('127.0.0.1', 'pw-file', tls, { ...root(), PGPASSFILE: pgpass });
    expectFailure(ignored, 3, 'E_AUTH');
    expect(ignored.stderr).toContain(`asks for the password of backup_user@127.0.0.1:${server.port}/shop, and none was given`);
    expect(ignored.stderr).toContain(`${pgpass} was ignored because group or others can read it: chmod 0600 it`);
    expect(ignored.stderr).toMatch(/--password-env VAR, PGPASSWORD or ~\/\.pgpass/);
    expect(await backupCount('pw-file')).toBe(1);
  });

  it('a wrong password: exit 3, and the password appears nowhere in the output', async () => {
    const results = await Promise.all([
      backup('127.0.0.1', 'pw-wrong', tls, { ...root(), PGPASSWORD: 'wrong-pass-123' }),
      backup('127.0.0.1', 'pw-wrong', [...tls, '--password-env', 'PW'], { ...root(), PW: 'wrong-pass-123' }),
    ]);
    for (const r of results) {
      expectFailure(r, 3, 'E_AUTH');
      expect(r.stderr).toMatch(/password authentication failed for user "backup_user"/);
    }
    expect(await backupCount('pw-wrong')).toBe(0);
  });
});

describe('PostgreSQL password prompt on a terminal', () => {
  it('the pseudo-terminal echoes typed input unless the program turns echo off (control)', async () => {
    const r = await onTerminal(['sh', '-c', 'echo ready; read line; echo "got $line"'], {}, /ready/, 'visible-123\n', 20_000);
    expect(r.code).toBe(0);
    expect(r.output).toContain('got visible-123');
    // Once as the echo of the typing, once from the program.
    expect(r.output.split('visible-123').length - 1).toBe(2);
  });

  it('asks once, does not echo the password, and the backup succeeds', async () => {
    const argv = [process.execPath, BIN, 'backup', '--db', 'postgres', '--url', `postgres://backup_user@127.0.0.1:${server.port}/shop`, '--sslmode', 'verify-full', '--out', 'prompted', '--parallel', '2'];
    const r = await onTerminal(argv, { PGSSLROOTCERT: certs.ca }, /Password for backup_user@127\.0\.0\.1: /, `${PASSWORD}\r`);
    expect(r.code, r.output).toBe(0);
    expect(r.output.match(/Password for /g)).toHaveLength(1);
    expect(r.output).not.toContain(PASSWORD);
    expect(r.output).not.toMatch(/\*{4}/);
    expect(await backupCount('prompted')).toBe(1);
  });

  it('a wrong password at the prompt fails with exit 3 and is not shown', async () => {
    const argv = [process.execPath, BIN, 'backup', '--db', 'postgres', '--url', `postgres://backup_user@127.0.0.1:${server.port}/shop`, '--sslmode', 'require', '--out', 'prompted-bad'];
    const r = await onTerminal(argv, {}, /Password for /, 'wrong-pass-123\r');
    expect(r.code, r.output).toBe(3);
    expect(r.output).toMatch(/error E_AUTH: .*password authentication failed/);
    expect(r.output).not.toContain('wrong-pass-123');
  });

  it('Ctrl-C at the prompt ends the command instead of hanging', async () => {
    const argv = [process.execPath, BIN, 'backup', '--db', 'postgres', '--url', `postgres://backup_user@127.0.0.1:${server.port}/shop`, '--sslmode', 'require', '--out', 'prompted-cancel'];
    // A hang is killed at 20 s (SIGKILL): its exit code would not be 1.
    const r = await onTerminal(argv, {}, /Password for /, '\u0003', 20_000);
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(/error E_INTERRUPTED: Cancelled at the password prompt/);
    await expect(readdir(join(dir.path, 'prompted-cancel'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('replicate over TLS: the same connection flags as backup', () => {
  const children: ChildProcess[] = [];
  const url = (host: string, db: string) => `postgres://backup_user@${host}:${server.port}/${db}`;
  const tlsEnv = () => ({ PW: PASSWORD, PGSSLROOTCERT: certs.ca });

  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  it('--sslmode verify-full --sslrootcert --password-env: the slot streams over TLS and restores equal the source', async () => {
    await server.query('CREATE DATABASE feed');
    await server.query('CREATE TABLE public.events (id serial PRIMARY KEY, note text); INSERT INTO public.events (note) SELECT md5(i::text) FROM generate_series(1, 100) i', [], 'feed');
    const r = startReplicate(
      ['--db', 'postgres', '--url', url('localhost', 'feed'), '--sslmode', 'verify-full', '--sslrootcert', certs.ca, '--password-env', 'PW', '--out', 'replicated', '--interval', '200ms'],
      { cwd: dir.path, env: { ...env, PW: PASSWORD }, children },
    );
    await r.waitFor((e) => e.event === 'generation');
    for (let i = 0; i < 5; i++) await server.query("INSERT INTO public.events (note) VALUES ('after ' || $1::text)", [i], 'feed');
    await server.query("UPDATE public.events SET note = 'changed' WHERE id <= 10; DELETE FROM public.events WHERE id > 95 AND id <= 100", [], 'feed');
    // Six transactions: the five inserts, then the update and delete sent as one query (one implicit transaction).
    await r.waitFor(() => r.shipped() >= 6);
    // The walsender replicate streams from is a TLS connection.
    const [walsender] = await server.query<{ ssl: boolean }>(
      "SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = 'dbbackup' AND r.usename = 'backup_user'",
    );
    expect(walsender?.ssl).toBe(true);
    await stopReplicate(r);
    const restored = await cli(['restore', '--from', 'replicated', '--at', 'latest', '--db', 'postgres', '--url', url('localhost', 'feed_copy'), '--sslmode', 'verify-full', '--password-env', 'PW', '--create'], tlsEnv());
    expectSuccess(restored);
    const copy = await tableHashes(server, 'feed_copy');
    expect(copy['public.events']?.rows).toBe(100);
    expect(copy).toEqual(await tableHashes(server, 'feed'));
    await server.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'feed'");
  }, 120_000);

  it('replicate refuses a certificate another CA signed, and a plain connection, as backup does: exit 3, nothing stored', async () => {
    const run = (flags: string[]) => cli(['replicate', '--db', 'postgres', '--url', url('127.0.0.1', 'shop'), '--password-env', 'PW', '--out', 'replicated-bad', ...flags], tlsEnv());
    // One after the other: two replicate runs of one source into one repository at once would meet
    // each other's run lock (E_LOCKED) before either reached the server.
    const otherCa = await run(['--sslmode', 'verify-full', '--ssl-ca', certs.otherCa]);
    const plain = await run(['--ssl-mode', 'DISABLED']);
    expectFailure(otherCa, 3, 'E_CONN_REFUSED');
    expect(otherCa.stderr).toMatch(/TLS certificate of the PostgreSQL server at 127\.0\.0\.1:\d+ failed verification with --sslmode verify-full/);
    expectFailure(plain, 3, 'E_AUTH');
    expect(plain.stderr).toContain('no encryption');
    expect(await backupCount('replicated-bad')).toBe(0);
    expect(await server.query("SELECT 1 FROM pg_replication_slots WHERE database = 'shop'")).toHaveLength(0);
  }, 60_000);
});
