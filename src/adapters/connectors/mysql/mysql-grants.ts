/** The least-privilege users for MySQL/MariaDB backups and restores of `database`. */
export function mysqlGrants(database = 'app'): string {
  const db = `\`${database.replace(/`/g, '``')}\``;
  return `-- MySQL / MariaDB: a backup user ('%': narrow it to the backup host)
CREATE USER 'dbbackup_backup'@'%' IDENTIFIED BY 'change me';
GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON ${db}.* TO 'dbbackup_backup'@'%';
-- parallel consistent snapshot (FLUSH TABLES WITH READ LOCK, held for milliseconds) and the binary log position:
GRANT RELOAD, BINLOG MONITOR ON *.* TO 'dbbackup_backup'@'%';   -- MySQL: RELOAD, REPLICATION CLIENT
-- routines' bodies: MariaDB shows them to their definer or with SELECT on mysql.proc
GRANT SELECT ON mysql.proc TO 'dbbackup_backup'@'%';             -- MariaDB only; MySQL 8: SHOW_ROUTINE
-- only for incremental and differential backups (they read the binary log as a replica would):
GRANT REPLICATION SLAVE ON *.* TO 'dbbackup_backup'@'%';

-- MySQL / MariaDB: a restore user
CREATE USER 'dbbackup_restore'@'%' IDENTIFIED BY 'change me';
GRANT SELECT, INSERT, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, CREATE VIEW, SHOW VIEW, TRIGGER,
      CREATE ROUTINE, ALTER ROUTINE, EVENT ON ${db}.* TO 'dbbackup_restore'@'%';
-- fast loads need the server to allow LOAD DATA LOCAL (otherwise restores use INSERTs):
-- SET GLOBAL local_infile = 1;
`;
}
