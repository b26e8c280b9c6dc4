import { describe, expect, it } from 'vitest';
import type { DatabaseConnector } from '../../../src/application/ports/database-connector.js';
import type { DatabaseSession } from '../../../src/application/ports/database-session.js';
import { RetryingConnector } from '../../../src/adapters/connectors/retrying-connector.js';
import { DbBackupError } from '../../../src/domain/errors.js';

function flaky(failures: DbBackupError[]): DatabaseConnector & { attempts: number } {
  const c = {
    attempts: 0,
    engine: 'postgres' as const,
    capabilities: { incremental: false, pointInTime: false, selectiveRestore: true, atomicRestore: false },
    defaultSourceName: () => 'x',
    async connect(): Promise<DatabaseSession> {
      c.attempts++;
      const failure = failures.shift();
      return {
        test: async () => {
          if (failure) throw failure;
        },
        close: async () => {},
      } as unknown as DatabaseSession;
    },
  };
  return c;
}

describe('RetryingConnector', () => {
  const policy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };
  it('retries refused connections, then succeeds', async () => {
    const inner = flaky([new DbBackupError('E_CONN_REFUSED', 'down'), new DbBackupError('E_CONN_REFUSED', 'down')]);
    await new RetryingConnector(inner, policy).connect({ engine: 'postgres' }, 'backup');
    expect(inner.attempts).toBe(3);
  });
  it('gives up after its attempts with the last error, and never retries a wrong password', async () => {
    const down = flaky([1, 2, 3, 4].map(() => new DbBackupError('E_CONN_REFUSED', 'down')));
    await expect(new RetryingConnector(down, policy).connect({ engine: 'postgres' }, 'backup')).rejects.toMatchObject({ code: 'E_CONN_REFUSED' });
    expect(down.attempts).toBe(3);
    const auth = flaky([new DbBackupError('E_AUTH', 'bad password')]);
    await expect(new RetryingConnector(auth, policy).connect({ engine: 'postgres' }, 'backup')).rejects.toMatchObject({ code: 'E_AUTH' });
    expect(auth.attempts).toBe(1);
  });
  it('never retries a TLS certificate that failed verification', async () => {
    const tls = flaky([1, 2, 3].map(() => new DbBackupError('E_CONN_REFUSED', 'certificate', { details: { tls: true } })));
    await expect(new RetryingConnector(tls, policy).connect({ engine: 'postgres' }, 'backup')).rejects.toMatchObject({ code: 'E_CONN_REFUSED' });
    expect(tls.attempts).toBe(1);
  });
  it("passes the port's optional parts through: the SQLite warm-up, log positions and scratch databases", async () => {
    const calls: string[] = [];
    const inner: DatabaseConnector = {
      ...flaky([]),
      warmUp: (target) => {
        calls.push(`warmUp ${target.database}`);
        return { release: async () => void calls.push('release') };
      },
      locateLogPosition: () => 2,
      scratch: { create: async () => undefined } as unknown as DatabaseConnector['scratch'],
    };
    const wrapped = new RetryingConnector(inner, policy);
    const warm = wrapped.warmUp?.({ engine: 'sqlite', database: 'app.db' });
    await warm?.release();
    expect(calls).toEqual(['warmUp app.db', 'release']);
    expect(wrapped.locateLogPosition?.([], { gtid: 'x' })).toBe(2);
    expect(wrapped.scratch).toBe(inner.scratch);
  });
});
