import type { DatabaseConnector } from '../application/ports/database-connector.js';
import { SqliteConnector } from '../adapters/connectors/sqlite/sqlite-connector.js';

/**
 * Every database engine this build knows. Adding an engine = its folder under
 * src/adapters/connectors/ and one line here.
 */
export function allConnectors(): DatabaseConnector[] {
  return [new SqliteConnector()];
}
