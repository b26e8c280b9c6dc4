import type { ConnectorRegistry, DatabaseConnector } from '../../application/ports/database-connector.js';
import { DbBackupError } from '../../domain/errors.js';

export class MapConnectorRegistry implements ConnectorRegistry {
  private readonly byEngine: Map<string, DatabaseConnector>;

  constructor(connectors: DatabaseConnector[]) {
    this.byEngine = new Map(connectors.map((c) => [c.engine, c]));
  }

  get(engine: string): DatabaseConnector {
    const connector = this.byEngine.get(engine);
    if (!connector) {
      throw new DbBackupError(
        'E_UNSUPPORTED',
        `Database engine "${engine}" is not supported by this build; supported: ${[...this.byEngine.keys()].join(', ')}.`,
      );
    }
    return connector;
  }
}
