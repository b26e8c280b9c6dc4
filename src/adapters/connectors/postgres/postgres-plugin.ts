import { PLUGIN_API_VERSION, type ConnectorPlugin } from '../../../application/ports/connector-plugin.js';
import { TLS_FILE_OPTIONS } from '../tls-options.js';

/** PostgreSQL through `pg` and COPY: no pg_dump needed. */
export const postgresPlugin: ConnectorPlugin = {
  apiVersion: PLUGIN_API_VERSION,
  engine: 'postgres',
  description: 'PostgreSQL 12+ (COPY streams, one exported snapshot shared by parallel workers)',
  schemes: ['postgres', 'postgresql'],
  database: 'name',
  options: [
    { name: 'sslmode', type: 'string', description: 'TLS as libpq spells it: disable, allow, prefer, require, verify-ca, verify-full' },
    { name: 'ssl-mode', type: 'string', description: 'TLS as the mysql client spells it: DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY' },
    ...TLS_FILE_OPTIONS,
  ],
  capabilities: { incremental: false, pointInTime: false, selectiveRestore: true, atomicRestore: false, prepareDuringChecks: true },
  load: async () => new (await import('./postgres-connector.js')).PostgresConnector(),
};
