/** How to reach a database. Secrets are resolved by the caller; connectors never log this whole. */
export interface ConnectionTarget {
  /** The engine's name as its plugin declares it (sqlite, postgres, mysql, mongodb, duckdb …). */
  engine: string;
  /** Server URL (postgres://…, mysql://…, mongodb://…). */
  url?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  /** Database name, or for file engines (SQLite) the database file path. */
  database?: string;
  /** Engine-specific choices, keyed by the camelCase form of the plugin's option names (`ssl-mode` → `sslMode`). */
  options?: Record<string, unknown>;
}
