import type { DatabaseConnector } from '../application/ports/database-connector.js';
import type { ConnectorLoader } from '../adapters/connectors/connector-registry.js';
import { RetryingConnector } from '../adapters/connectors/retrying-connector.js';

/**
 * Every database engine this build knows, loaded on first use. Adding an engine = its folder under
 * src/adapters/connectors/ and one line here.
 */
export function connectorLoaders(): ConnectorLoader[] {
  const retrying = (c: DatabaseConnector) => new RetryingConnector(c);
  return [
    { engine: 'sqlite', load: async () => new (await import('../adapters/connectors/sqlite/sqlite-connector.js')).SqliteConnector() },
    { engine: 'postgres', load: async () => retrying(new (await import('../adapters/connectors/postgres/postgres-connector.js')).PostgresConnector()) },
    { engine: 'mysql', load: async () => retrying(new (await import('../adapters/connectors/mysql/mysql-connector.js')).MysqlConnector()) },
    { engine: 'mongodb', load: async () => retrying(new (await import('../adapters/connectors/mongodb/mongodb-connector.js')).MongodbConnector()) },
  ];
}
