import { execFileSync } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import { createServer, type Server, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type MariaDbServer, startMariaDb } from '../helpers/mariadb-server.js';
import { type PostgresServer, startPostgres } from '../helpers/postgres-server.js';
import { tempDir } from '../helpers/temp.js';

/**
 * Issue 18 case 6: `verify-ca` / `VERIFY_CA` without a CA are refused (as libpq and the mysql client
 * do) instead of trusting any public CA for any host; and a connection to a database on another
 * machine that is not encrypted, or whose certificate is not checked, is said on stderr when made.
 * "Another machine" is the host name db.remote.test (a reserved TLD): the CLI child resolves it to
 * 127.0.0.1 through the test-only preload fake-remote-dns.mjs, so every packet stays on loopback
 * while dbbackup sees a name that is not loopback. The test servers listen on 127.0.0.1 only.
 */
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let pgServer: PostgresServer;
let maria: MariaDbServer;
let ca: string;
const forwarders: Server[] = [];

/** A host name of "another machine", resolved to 127.0.0.1 in the CLI child by the preload below. */
const REMOTE = 'db.remote.test';
/** Makes `*.remote.test` resolve to 127.0.0.1 in the CLI child (a file: URL, so no path quoting). */
const FAKE_DNS = new URL('./fake-remote-dns.mjs', import.meta.url).href;

/** A TCP forwarder listening on `host` (a free port; a loopback address) to 127.0.0.1:`port`. */
async function forward(host: string, port: number): Promise<number> {
  const server = createServer((client) => {
    const upstream = tcpConnect(port, '127.0.0.1');
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  forwarders.push(server);
  return (server.address() as { port: number }).port;
}

/** A CA and a server certificate for 127.0.0.1, localhost and the remote host name (not 127.0.0.2). */
function makeCertificates(folder: string): { ca: string; cert: string; key: string } {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: folder, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=dbbackup-sec-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  execFileSync('sh', ['-c', `printf "subjectAltName=IP:127.0.0.1,DNS:${REMOTE},DNS:localhost\\n" > ext.cnf`], { cwd: folder });
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext.cnf', '-out', 'server.pem');
  return { ca: join(folder, 'ca.pem'), cert: join(folder, 'server.pem'), key: join(folder, 'server.key') };
}

/** TLS files for a trust-auth server (pg_hba `host`: TLS and plain both accepted); postgres wants its own 0600 key. */
async function serverTlsArgs(certs: { cert: string; key: string }): Promise<string[]> {
  const folder = await mkdtemp('/tmp/pgsec-');
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
  const cert = join(folder, 'server.crt');
  const key = join(folder, 'server.key');
  await copyFile(certs.cert, cert);
  await copyFile(certs.key, key);
  await chmod(key, 0o600);
  await Promise.all([chown(folder, uid, gid), chown(cert, uid, gid), chown(key, uid, gid)]);
  return ['-c', 'ssl=on', '-c', `ssl_cert_file=${cert}`, '-c', `ssl_key_file=${key}`];
}

/** 127.0.0.2, which the certificate does not name. */
let mariaUnnamedPort: number;

beforeAll(async () => {
  dir = await tempDir('dbb-sec-tls-');
  const certs = makeCertificates(dir.path);
  ca = certs.ca;
  [pgServer, maria] = await Promise.all([
    startPostgres(await serverTlsArgs(certs)),
    startMariaDb({ args: [`--ssl-ca=${certs.ca}`, `--ssl-cert=${certs.cert}`, `--ssl-key=${certs.key}`] }),
  ]);
  await pgServer.query('CREATE DATABASE shop');
  await pgServer.query('CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1), (2);', [], 'shop');
  await maria.query('CREATE DATABASE shop');
  await maria.query('CREATE TABLE shop.items (id INT PRIMARY KEY)');
  mariaUnnamedPort = await forward('127.0.0.2', maria.port);
  // No ~/.postgresql/root.crt, and no PG* variable of the machine, may change what is tested.
  const home = join(dir.path, 'home');
  await mkdir(home);
  env = {
    HOME: home,
    DBBACKUP_DATA_DIR: join(dir.path, 'data'),
    XDG_STATE_HOME: join(dir.path, 'state'),
    NODE_OPTIONS: [process.env.NODE_OPTIONS, `--import=${FAKE_DNS}`].filter(Boolean).join(' '),
    ...Object.fromEntries(['PGPASSWORD', 'PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGSSLMODE', 'PGSSLROOTCERT'].map((k) => [k, undefined])),
  };
}, 120_000);

afterAll(async () => {
  for (const f of forwarders) f.close();
  await Promise.all([pgServer?.stop(), maria?.stop()]);
  await dir?.cleanup();
});

let outs = 0;
const backup = (...args: string[]) => runCli(['backup', '--out', `repo-${++outs}`, ...args], { env, cwd: dir.path });
const pg = (host: string, port: number, ...flags: string[]) => backup('--db', 'postgres', '--url', `postgres://postgres@${host}:${port}/shop`, ...flags);
const my = (host: string, port: number, ...flags: string[]) => backup('--db', 'mysql', '--url', `mysql://root@${host}:${port}/shop`, ...flags);

describe('6. TLS to databases', () => {
  it('PostgreSQL --sslmode verify-ca without a CA file is refused (exit 2), as is verify-ca with sslrootcert=system', async () => {
    const [none, system] = await Promise.all([
      pg(REMOTE, pgServer.port, '--sslmode', 'verify-ca'),
      backup('--db', 'postgres', '--url', `postgres://postgres@${REMOTE}:${pgServer.port}/shop?sslmode=verify-ca&sslrootcert=system`),
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/error E_USAGE: --sslmode verify-ca needs the CA that signed the server certificate, and .*root\.crt does not exist/);
    expect(system.code).toBe(2);
    expect(system.stderr).toMatch(/error E_USAGE: --sslmode verify-ca cannot use sslrootcert=system/);
    // With the CA it connects and checks it.
    const withCa = await pg(REMOTE, pgServer.port, '--sslmode', 'verify-ca', '--sslrootcert', ca);
    expect(withCa.code, withCa.stderr).toBe(0);
    expect(withCa.stderr).toBe('');
  });

  it('MySQL --ssl-mode VERIFY_CA without --ssl-ca is refused (exit 2)', async () => {
    const r = await my(REMOTE, maria.port, '--ssl-mode', 'VERIFY_CA');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error E_USAGE: --ssl-mode VERIFY_CA needs --ssl-ca FILE/);
  });

  it('a PostgreSQL connection to another machine says when it is not encrypted, or not verified; verified or loopback ones say nothing', async () => {
    const [plain, unverified, verified, loopback] = await Promise.all([
      pg(REMOTE, pgServer.port, '--sslmode', 'disable', '--json'),
      pg(REMOTE, pgServer.port, '--sslmode', 'require'),
      pg(REMOTE, pgServer.port, '--sslmode', 'verify-full', '--sslrootcert', ca),
      pg('127.0.0.1', pgServer.port, '--sslmode', 'disable'),
    ]);
    for (const r of [plain, unverified, verified, loopback]) expect(r.code, r.stderr).toBe(0);
    const at = `PostgreSQL at ${REMOTE}:${pgServer.port}`;
    // Once per run (a backup opens several connections), and beside --json's clean stdout.
    expect(plain.stderr.match(/warning:/g)).toHaveLength(1);
    expect(plain.stderr).toContain(`warning: the connection to ${at} is NOT encrypted`);
    expect(() => JSON.parse(plain.stdout) as unknown).not.toThrow();
    expect(unverified.stderr.match(/warning:/g)).toHaveLength(1);
    expect(unverified.stderr).toContain(`warning: the connection to ${at} is encrypted, but the server certificate is not verified`);
    expect(unverified.stderr).toContain('--sslmode verify-full');
    expect(verified.stderr).toBe('');
    expect(loopback.stderr).toBe('');
  });

  it('a MySQL connection to another machine in the clear, or over unverified TLS, is said; verified or loopback ones say nothing', async () => {
    const [plain, unverified, verified, loopback] = await Promise.all([
      my(REMOTE, maria.port, '--ssl-mode', 'DISABLED'),
      my(REMOTE, maria.port),
      my(REMOTE, maria.port, '--ssl-mode', 'VERIFY_IDENTITY', '--ssl-ca', ca),
      my('127.0.0.1', maria.port),
    ]);
    for (const r of [plain, unverified, verified, loopback]) expect(r.code, r.stderr).toBe(0);
    const at = `MySQL at ${REMOTE}:${maria.port}`;
    expect(plain.stderr).toContain(`warning: the connection to ${at} is NOT encrypted`);
    expect(unverified.stderr).toContain(`warning: the connection to ${at} is encrypted, but the server certificate is not verified`);
    expect(unverified.stderr).toContain('--ssl-mode VERIFY_IDENTITY');
    expect(verified.stderr).toBe('');
    expect(loopback.stderr).not.toContain('warning:');
  });

  it('MySQL VERIFY_IDENTITY refuses a certificate that does not name the address (exit 3); VERIFY_CA accepts it', async () => {
    const [identity, caOnly] = await Promise.all([
      my('127.0.0.2', mariaUnnamedPort, '--ssl-mode', 'VERIFY_IDENTITY', '--ssl-ca', ca),
      my('127.0.0.2', mariaUnnamedPort, '--ssl-mode', 'VERIFY_CA', '--ssl-ca', ca),
    ]);
    expect(identity.code).toBe(3);
    expect(identity.stderr).toMatch(/error E_CONN_REFUSED: The TLS certificate of the MySQL server at 127\.0\.0\.2:\d+ does not name 127\.0\.0\.2/);
    expect(caOnly.code, caOnly.stderr).toBe(0);
  });
});
