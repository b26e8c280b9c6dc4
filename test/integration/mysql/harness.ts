import type { ConnectionTarget } from '../../../src/application/ports/connection-target.js';
import type { RepositoryOpener } from '../../../src/application/ports/repository-opener.js';
import { RestoreBackup, type RestoreBackupInput } from '../../../src/application/use-cases/restore-backup.js';
import { RunBackup, type RunBackupInput } from '../../../src/application/use-cases/run-backup.js';
import { DrizzleBackupCatalog } from '../../../src/adapters/catalog/drizzle-backup-catalog.js';
import { MapCodecRegistry } from '../../../src/adapters/compression/codec-registry.js';
import { GzipCodec } from '../../../src/adapters/compression/gzip-codec.js';
import { NoneCodec } from '../../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../../src/adapters/compression/zstd-codec.js';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { MysqlConnector } from '../../../src/adapters/connectors/mysql/mysql-connector.js';
import { LocalRepositoryOpener } from '../../../src/adapters/storage/repository-opener.js';
import { createLogger } from '../../../src/infrastructure/logging.js';
import { catalogFile } from '../../../src/infrastructure/paths.js';
import { NullProgress } from '../../../src/infrastructure/progress.js';
import type { MariaDbServer } from '../../helpers/mariadb-server.js';

/**
 * The real use-cases with the real repository, codecs, catalog and the MySQL connector, wired
 * here directly (not through bootstrap) so these tests depend on nothing but the MySQL adapter.
 */
export function services(dataDir: string, opener: RepositoryOpener = new LocalRepositoryOpener()) {
  const catalog = new DrizzleBackupCatalog(catalogFile(dataDir));
  const deps = {
    connectors: new MapConnectorRegistry([new MysqlConnector()]),
    opener,
    codecs: new MapCodecRegistry([new ZstdCodec(), new GzipCodec(), new NoneCodec()]),
    catalog,
    clock: { now: () => new Date() },
    logger: createLogger({ level: 'error', json: true }),
    progress: new NullProgress(),
  };
  return {
    runBackup: new RunBackup({ ...deps, toolVersion: 'test' }),
    restoreBackup: new RestoreBackup(deps),
    close: () => catalog.close(),
  };
}

export function target(server: MariaDbServer, database?: string, options: Record<string, unknown> = {}): ConnectionTarget {
  return { engine: 'mysql', host: '127.0.0.1', port: server.port, user: 'root', database, options };
}

export async function backup(dataDir: string, input: Partial<RunBackupInput> & { target: ConnectionTarget; repository: string }, opener?: RepositoryOpener) {
  const app = services(dataDir, opener);
  try {
    return await app.runBackup.execute({ kind: 'full', compression: { codec: 'zstd' }, parallel: 2, ...input }, new AbortController().signal);
  } finally {
    app.close();
  }
}

export async function restore(dataDir: string, input: Partial<RestoreBackupInput> & { target: ConnectionTarget; repository: string }) {
  const app = services(dataDir);
  try {
    return await app.restoreBackup.execute({ backup: 'latest', clean: false, ...input }, new AbortController().signal);
  } finally {
    app.close();
  }
}

/** Per table: row count and CHECKSUM TABLE (EXTENDED), keyed by table name. */
export async function tableFingerprints(server: MariaDbServer, db: string): Promise<Record<string, { rows: number; checksum: string }>> {
  const tables = await server.query<{ name: string }>(
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    [db],
  );
  const out: Record<string, { rows: number; checksum: string }> = {};
  for (const { name } of tables) {
    const q = `\`${db}\`.\`${name}\``;
    const [count] = await server.query<{ n: string | number }>(`SELECT COUNT(*) AS n FROM ${q}`);
    const [sum] = await server.query<{ Checksum: string | number }>(`CHECKSUM TABLE ${q} EXTENDED`);
    out[name] = { rows: Number(count!.n), checksum: String(sum!.Checksum) };
  }
  return out;
}

/** SHOW CREATE of every object in `db`, with the database name itself blanked out for comparison across names. */
export async function showCreateAll(server: MariaDbServer, db: string): Promise<Record<string, string>> {
  const conn = await server.connect(db);
  const out: Record<string, string> = {};
  const strip = (s: string) => s.split(`\`${db}\``).join('`DB`');
  try {
    const [tables] = await conn.query('SELECT TABLE_NAME AS n, TABLE_TYPE AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()');
    for (const { n, t } of tables as { n: string; t: string }[]) {
      const kind = t === 'VIEW' ? 'VIEW' : t === 'SEQUENCE' ? 'SEQUENCE' : 'TABLE';
      const [rows] = await conn.query(`SHOW CREATE ${kind} \`${n}\``);
      const row = (rows as Record<string, string>[])[0]!;
      out[`${kind.toLowerCase()} ${n}`] = strip(row['Create View'] ?? row['Create Table']!);
    }
    const [routines] = await conn.query('SELECT ROUTINE_NAME AS n, ROUTINE_TYPE AS t FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()');
    for (const { n, t } of routines as { n: string; t: string }[]) {
      const [rows] = await conn.query(`SHOW CREATE ${t} \`${n}\``);
      const row = (rows as Record<string, string>[])[0]!;
      out[`${t.toLowerCase()} ${n}`] = strip(`${row.sql_mode}|${row.character_set_client}|${row.collation_connection}|${row[t === 'FUNCTION' ? 'Create Function' : 'Create Procedure']}`);
    }
    const [triggers] = await conn.query('SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY ACTION_ORDER');
    for (const { n } of triggers as { n: string }[]) {
      const [rows] = await conn.query(`SHOW CREATE TRIGGER \`${n}\``);
      const row = (rows as Record<string, string>[])[0]!;
      out[`trigger ${n}`] = strip(`${row.sql_mode}|${row['SQL Original Statement']}`);
    }
    const [events] = await conn.query('SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()');
    for (const { n } of events as { n: string }[]) {
      const [rows] = await conn.query(`SHOW CREATE EVENT \`${n}\``);
      const row = (rows as Record<string, string>[])[0]!;
      out[`event ${n}`] = strip(`${row.sql_mode}|${row.time_zone}|${row['Create Event']}`);
    }
  } finally {
    await conn.end();
  }
  return out;
}
