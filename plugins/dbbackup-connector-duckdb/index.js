/**
 * dbbackup-connector-duckdb: DuckDB database files as a dbbackup engine (`--db duckdb`).
 * This module is only the plugin's description: dbbackup reads it when it looks for engines, and
 * the DuckDB driver loads in `load`, on first use.
 *
 * @type {import('dbbackup/plugin').ConnectorPlugin}
 */
const plugin = {
  apiVersion: 1,
  engine: 'duckdb',
  description: 'DuckDB database files (one snapshot; a table per Parquet part)',
  schemes: [],
  database: 'file',
  options: [{ name: 'threads', type: 'number', description: 'DuckDB worker threads (default: its own choice)' }],
  capabilities: { incremental: false, pointInTime: false, selectiveRestore: true, atomicRestore: true },
  async load(host) {
    const { DuckdbConnector } = await import('./connector.js');
    return new DuckdbConnector(host, plugin.capabilities);
  },
};

export default plugin;
