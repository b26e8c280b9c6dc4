import type { ConnectionTarget } from '../../application/ports/connection-target.js';
import type { DatabaseConnector } from '../../application/ports/database-connector.js';
import type { DatabaseSession } from '../../application/ports/database-session.js';
import { type DatabaseDiagnosis, diagnosisOf } from '../../application/ports/database-diagnosis.js';
import { isDbBackupError } from '../../domain/errors.js';
import { type RetryPolicy, withRetry } from '../../infrastructure/retry.js';

/**
 * Retries opening a session (connect + test) while the server refuses or drops connections — a
 * database restarting, a failover, a pooler at its limit — with exponential backoff and jitter.
 * Wrong passwords, missing databases and usage errors fail at once. One wrapper for every engine.
 */
export class RetryingConnector implements DatabaseConnector {
  constructor(
    private readonly inner: DatabaseConnector,
    private readonly policy: Partial<RetryPolicy> = { attempts: 3, baseDelayMs: 400, maxDelayMs: 4000 },
  ) {}

  get engine() {
    return this.inner.engine;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  /** The engine's doctor checks, unchanged (they report an unreachable server rather than retry). */
  get diagnose(): DatabaseDiagnosis['diagnose'] | undefined {
    return diagnosisOf(this.inner)?.diagnose;
  }

  get grants(): DatabaseDiagnosis['grants'] | undefined {
    return diagnosisOf(this.inner)?.grants;
  }

  defaultSourceName(target: ConnectionTarget): string {
    return this.inner.defaultSourceName(target);
  }

  get scratch() {
    return this.inner.scratch;
  }

  /** The engine's warm-up, unchanged (without it a SQLite backup booted its page reader only once its session opened). */
  get warmUp() {
    return this.inner.warmUp?.bind(this.inner);
  }

  get locateLogPosition() {
    return this.inner.locateLogPosition?.bind(this.inner);
  }

  async connect(target: ConnectionTarget, purpose: 'backup' | 'restore'): Promise<DatabaseSession> {
    return withRetry(
      async () => {
        const session = await this.inner.connect(target, purpose);
        if (purpose === 'restore') return session;
        try {
          await session.test();
          return session;
        } catch (err) {
          await session.close().catch(() => undefined);
          throw err;
        }
      },
      // A certificate that failed verification fails the same way on every attempt.
      { policy: this.policy, retryable: (err) => isDbBackupError(err, 'E_CONN_REFUSED') && err.details.tls !== true },
    );
  }
}
