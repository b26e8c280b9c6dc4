import type { ConnectorRegistry, DatabaseConnector } from '../../application/ports/database-connector.js';
import { DbBackupError } from '../../domain/errors.js';

/** A connector whose module (and database driver) is loaded on first use. */
export interface ConnectorLoader {
  engine: string;
  load(): Promise<DatabaseConnector>;
}

/**
 * Connectors by engine. Loaders keep the CLI's start-up light: `dbbackup list` never loads the
 * PostgreSQL, MySQL or MongoDB drivers.
 */
export class MapConnectorRegistry implements ConnectorRegistry {
  private readonly byEngine = new Map<string, Promise<DatabaseConnector> | ConnectorLoader>();

  constructor(connectors: (DatabaseConnector | ConnectorLoader)[]) {
    for (const c of connectors) this.byEngine.set(c.engine, 'load' in c ? c : Promise.resolve(c));
  }

  async get(engine: string): Promise<DatabaseConnector> {
    const entry = this.byEngine.get(engine);
    if (!entry) {
      throw new DbBackupError(
        'E_UNSUPPORTED',
        `Database engine "${engine}" is not supported by this build; supported: ${[...this.byEngine.keys()].join(', ')}.`,
      );
    }
    if (entry instanceof Promise) return entry;
    const loading = entry.load();
    this.byEngine.set(engine, loading);
    return loading;
  }
}
