import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisClient } from '../../../src/adapters/queue/redis-commands.js';
import { RedisScheduleStore } from '../../../src/adapters/queue/redis-schedule-store.js';
import { queueRuntime } from '../../../src/bootstrap/queue.js';
import { silentLogger } from '../../helpers/fakes.js';
import { startRedis, type RedisServer } from '../../helpers/redis-server.js';
import { tempDir } from '../../helpers/temp.js';

// rediss:// with a password: the certificate is verified against queue.ca-file, and neither a
// wrong CA nor a wrong password gets through; no message holds the password.
const PASSWORD = 'queue-pass-3f9a1c';
let redis: RedisServer;
let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  dir = await tempDir('redis-tls-');
  const f = (n: string) => join(dir.path, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  for (const ca of ['ca', 'other-ca']) {
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${ca}`, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.pem`));
  }
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr'));
  await import('node:fs/promises').then((fs) => fs.writeFile(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n'));
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('san.ext'), '-out', f('server.pem'));
  redis = await startRedis({ tls: { cert: f('server.pem'), key: f('server.key'), ca: f('ca.pem') }, password: PASSWORD });
});
afterAll(async () => {
  await redis?.remove();
  await dir?.cleanup();
});

function store(caFile: string, password: string) {
  const q = queueRuntime({ url: redis.url, origin: 'test', password, 'ca-file': join(dir.path, caFile) });
  return new RedisScheduleStore(redisClient({ ...q.endpoint, connectTimeoutMs: 2000 }, silentLogger), { prefix: 'tls', where: q.where, outageMs: 1500 });
}

it('works over TLS with the right CA and password', async () => {
  const s = store('ca.pem', PASSWORD);
  try {
    expect((await s.ensureState('x', new Date(1000))).lastSlot).toEqual(new Date(1000));
  } finally {
    await s.close();
  }
});

it('refuses a server its CA did not sign, and a wrong password, without echoing the password', async () => {
  for (const [ca, password] of [
    ['other-ca.pem', PASSWORD],
    ['ca.pem', 'wrong-password-77'],
  ] as const) {
    const s = store(ca, password);
    const err = (await s.states().catch((e: unknown) => e)) as Error;
    await s.close();
    expect(err).toMatchObject({ code: ca === 'other-ca.pem' ? 'E_CONN_REFUSED' : 'E_AUTH' });
    expect(err.message).toMatch(ca === 'other-ca.pem' ? /last error: .*(certificate|self.signed|issuer)/i : /last error: .*(WRONGPASS|invalid|password)/i);
    expect(String(err.message) + String((err as { cause?: Error }).cause?.message)).not.toMatch(/queue-pass|wrong-password/);
  }
});
