import { PLUGIN_API_VERSION, type ConnectorPlugin } from '../../../application/ports/connector-plugin.js';
import { postgresEngine } from './postgres-engine.js';
import { IO_TIMEOUT_OPTION } from '../io-timeout.js';
import { LOCK_WAIT_OPTION } from '../lock-wait-timeout.js';
import { TLS_MODE_AND_FILE_OPTIONS } from '../tls-options.js';

/** PostgreSQL through `pg` and COPY: no pg_dump needed. */
export const postgresPlugin: ConnectorPlugin = {
  apiVersion: PLUGIN_API_VERSION,
  engine: postgresEngine.engine,
  description: 'PostgreSQL 12+ (COPY streams, one exported snapshot shared by parallel workers)',
  schemes: ['postgres', 'postgresql'],
  database: 'name',
  options: [
    { name: 'sslmode', type: 'string', description: 'TLS as libpq spells it: disable, allow, prefer, require, verify-ca, verify-full' },
    ...TLS_MODE_AND_FILE_OPTIONS,
    {
      name: 'strict',
      type: 'boolean',
      commands: ['restore'],
      description: 'PostgreSQL: fail (and leave nothing restored) rather than skip an object the target cannot create',
    },
    {
      name: 'capture',
      type: 'string',
      description: 'changes: a full backup also creates a logical replication slot and publication (dbbackup_<source>) so that incremental backups and --at restores can follow',
      commands: ['backup'],
    },
    {
      name: 'capture-ddl',
      type: 'boolean',
      description:
        'with --capture changes (or replicate): install an event trigger (needs a superuser) that logs DDL into dbbackup.ddl_log, a table of the publication, so incrementals and replication follow schema changes and restores replay them in order',
      commands: ['backup', 'replicate'],
    },
    {
      name: 'replica-identity-full',
      type: 'boolean',
      description: 'with --capture changes (or replicate): give tables without a primary key REPLICA IDENTITY FULL (ALTER TABLE on the source) so their every change is captured',
      commands: ['backup', 'replicate'],
    },
    LOCK_WAIT_OPTION,
    IO_TIMEOUT_OPTION,
  ],
  capabilities: postgresEngine.capabilities,
  load: async () => new (await import('./postgres-connector.js')).PostgresConnector(),
};
