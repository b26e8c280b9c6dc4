import { isDbBackupError } from '../../domain/errors.js';
import type { ConnectionTarget } from '../ports/connection-target.js';
import type { ConnectorRegistry } from '../ports/connector-registry.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import { readMarker } from '../services/backup-repository.js';

export interface ConnectionCheck {
  kind: 'source' | 'target';
  name: string;
  ok: boolean;
  message: string;
}

/** `config validate --connect`: can each source be reached and each target be read? */
export class CheckConnections {
  constructor(private readonly deps: { connectors: ConnectorRegistry; opener: RepositoryOpener }) {}

  async execute(input: { sources: { name: string; target: ConnectionTarget }[]; targets: { name: string; url: string }[] }): Promise<ConnectionCheck[]> {
    const checks: ConnectionCheck[] = [];
    for (const s of input.sources) {
      try {
        const session = await (await this.deps.connectors.get(s.target.engine)).connect(s.target, 'backup');
        try {
          await session.test();
        } finally {
          await session.close();
        }
        checks.push({ kind: 'source', name: s.name, ok: true, message: `${s.target.engine}: reachable` });
      } catch (err) {
        checks.push({ kind: 'source', name: s.name, ok: false, message: describe(err) });
      }
    }
    for (const t of input.targets) {
      try {
        const repo = await this.deps.opener.open(t.url, 'read');
        try {
          const marker = await readMarker(repo.store);
          checks.push({ kind: 'target', name: t.name, ok: true, message: marker ? 'a dbbackup repository' : 'reachable, empty (a backup will set it up)' });
        } finally {
          await repo.close();
        }
      } catch (err) {
        const e = isDbBackupError(err) && err.code === 'E_NOT_FOUND' && !/^[a-z]+:\/\//.test(t.url);
        checks.push({ kind: 'target', name: t.name, ok: e, message: e ? 'does not exist yet (the first backup creates it)' : describe(err) });
      }
    }
    return checks;
  }
}

function describe(err: unknown): string {
  return isDbBackupError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
}
