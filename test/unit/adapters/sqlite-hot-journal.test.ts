// A restore killed while it copies into an existing database (the backup API, in one transaction)
// leaves the target with a hot journal: a read-only connection then fails "attempt to write a
// readonly database" (SQLITE_READONLY_ROLLBACK). The next restore must roll it back (the target is
// as before the killed one) rather than fail with E_INTERNAL.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectFile } from '../../../src/adapters/connectors/sqlite/sqlite-file.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof import('better-sqlite3');

/** A writer that spills a big transaction into the file, says so, and waits to be killed. */
const WRITER = `
const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
const db = new Database(process.argv[1]);
db.pragma('cache_size = 10');
db.exec('BEGIN');
db.exec('CREATE TABLE restored (x TEXT)');
const insert = db.prepare('INSERT INTO restored VALUES (?)');
for (let i = 0; i < 5000; i++) insert.run('y'.repeat(500) + i);
process.stdout.write('spilled\\n');
setInterval(() => {}, 1000);
`;

describe('a SQLite target a killed restore left with a hot journal', () => {
  it('is rolled back to what it held before, and then read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbb-hot-journal-'));
    try {
      const target = join(dir, 'target.db');
      const before = new Database(target);
      before.exec("CREATE TABLE previous (x TEXT); INSERT INTO previous VALUES ('before the restore');");
      before.close();
      const child = spawn(process.execPath, ['-e', WRITER, target], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('spilled') && resolve());
        child.on('exit', (code) => reject(new Error(`the writer exited (${code}) before spilling`)));
      });
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      // The state the bug report saw: a read-only open fails.
      expect(() => new Database(target, { readonly: true }).prepare('SELECT 1 FROM sqlite_master').all()).toThrow(/readonly/);
      const state = await inspectFile(target);
      expect(state).toMatchObject({ exists: true, empty: false, isSqlite: true, objects: ['previous'] });
      await expect(stat(`${target}-journal`)).rejects.toMatchObject({ code: 'ENOENT' });
      const after = new Database(target, { readonly: true });
      expect(after.prepare('SELECT x FROM previous').all()).toEqual([{ x: 'before the restore' }]);
      after.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
