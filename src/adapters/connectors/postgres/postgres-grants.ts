import { quoteIdent } from './connection.js';

/** The least-privilege roles for PostgreSQL backups and restores of `database` (see README "Least privilege"). */
export function postgresGrants(database = 'app'): string {
  const db = quoteIdent(database);
  return `-- PostgreSQL: a backup role (14+: pg_read_all_data reads every table and sequence, and large objects)
CREATE ROLE dbbackup_backup LOGIN PASSWORD 'change me';
GRANT CONNECT ON DATABASE ${db} TO dbbackup_backup;
GRANT pg_read_all_data TO dbbackup_backup;
-- only if tables have row-level security policies (a backup reads them with row_security = off):
ALTER ROLE dbbackup_backup BYPASSRLS;
-- only for incremental backups (--capture changes): logical decoding, and the capture publication,
-- which lists the tables and so needs their owner's rights:
ALTER ROLE dbbackup_backup REPLICATION;
GRANT CREATE ON DATABASE ${db} TO dbbackup_backup;
-- GRANT <the tables' owner role> TO dbbackup_backup;
-- PostgreSQL 13 and older, instead of pg_read_all_data, per schema:
-- GRANT USAGE ON SCHEMA public TO dbbackup_backup;
-- GRANT SELECT ON ALL TABLES IN SCHEMA public TO dbbackup_backup;
-- GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO dbbackup_backup;
-- ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO dbbackup_backup;

-- PostgreSQL: a restore role that owns what it restores
CREATE ROLE dbbackup_restore LOGIN PASSWORD 'change me';
ALTER DATABASE ${db} OWNER TO dbbackup_restore;
-- only for restore --create (a new database):
ALTER ROLE dbbackup_restore CREATEDB;
-- only for --restore-owner (objects owned by the backup's roles): membership in each of those roles
`;
}
