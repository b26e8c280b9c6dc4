import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqlitePlugin } from '../../../src/adapters/connectors/sqlite/sqlite-plugin.js';
import { type Contents, databaseConnectorContract } from '../../contracts/database-connector-contract.js';
import { contentHashes, createNastyDatabase, Database } from '../../helpers/sqlite-fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'dbb-sqlite-contract-'));
let n = 0;

/** User tables only: SQLite's own (sqlite_sequence) and FTS5's shadow tables come with their owners. */
function contents(path: string): Contents {
  if (!existsSync(path)) return {};
  const out: Contents = {};
  for (const [name, h] of Object.entries(contentHashes(path))) {
    if (!name.startsWith('sqlite_') && !/^notes_/.test(name)) out[name] = `${h.rows}:${h.sha256}`;
  }
  return out;
}

databaseConnectorContract('sqlite', {
  plugin: sqlitePlugin,
  async source() {
    const path = join(dir, `source-${++n}.db`);
    createNastyDatabase(path, { bigText: 100_000 });
    return { engine: 'sqlite', database: path };
  },
  async target() {
    return { engine: 'sqlite', database: join(dir, `target-${++n}.db`) };
  },
  contents: async (t) => contents(t.database!),
  selective: ['no_pk', 'weird "name" table'],
  async mutate(t) {
    const db = new Database(t.database!);
    try {
      db.exec(`INSERT INTO orders (person_id, amount, placed_at) VALUES (2, 99.5, 'later');
        UPDATE people SET bio = 'changed' WHERE name = 'edges';
        DELETE FROM no_pk WHERE a = 1;
        CREATE TABLE added (x);
        INSERT INTO added VALUES (1), (2);`);
    } finally {
      db.close();
    }
  },
  cleanup: () => rm(dir, { recursive: true, force: true }),
});
