import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MariaDbServer, startMariaDb } from '../../helpers/mariadb-server.js';
import { tempDir } from '../../helpers/temp.js';
import { backup, target } from './harness.js';

/** A CA and a server certificate for 127.0.0.1 (CN and subjectAltName), made with openssl. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string; otherCa: string } {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=other-ca', '-keyout', 'other.key', '-out', 'other.pem');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
  execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1\\n" > ext.cnf'], { cwd: dir });
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext.cnf', '-out', 'server.pem');
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), otherCa: join(dir, 'other.pem') };
}

describe('MySQL connector over TLS (MariaDB)', () => {
  let server: MariaDbServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: ReturnType<typeof makeCertificates>;

  beforeAll(async () => {
    dir = await tempDir('mysql-tls-');
    certs = makeCertificates(dir.path);
    server = await startMariaDb({ args: [`--ssl-ca=${certs.ca}`, `--ssl-cert=${certs.cert}`, `--ssl-key=${certs.key}`] });
    await server.query(`CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY); INSERT INTO s.t VALUES (1);
      CREATE USER tlsonly@'%' REQUIRE SSL; GRANT ALL ON *.* TO tlsonly@'%';`);
  });
  afterAll(async () => {
    await server?.stop();
    await dir?.cleanup();
  });

  it('backs up with --ssl-mode VERIFY_IDENTITY and the right CA; refuses a certificate from another CA', async () => {
    const repo = join(dir.path, 'repo');
    const tls = (sslMode: string, sslCa: string) => ({ ...target(server, 's', { sslMode, sslCa }), user: 'tlsonly' });
    const { manifest } = await backup(dir.path, { target: tls('VERIFY_IDENTITY', certs.ca), repository: repo });
    expect(manifest.objects.find((o) => o.name === 's.t')?.rows).toBe(1);
    await backup(dir.path, { target: { ...target(server, 's', { sslMode: 'REQUIRED' }), user: 'tlsonly' }, repository: repo });
    await expect(backup(dir.path, { target: tls('VERIFY_CA', certs.otherCa), repository: repo })).rejects.toMatchObject({ code: 'E_CONN_REFUSED' });
    // A user that must use TLS cannot log in in the clear.
    await expect(
      backup(dir.path, { target: { ...target(server, 's', { sslMode: 'DISABLED' }), user: 'tlsonly' }, repository: repo }),
    ).rejects.toMatchObject({ code: 'E_AUTH' });
  });
});
