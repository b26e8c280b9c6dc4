import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cursorAtStart, cursorToPosition, positionToCursor, readCommits, readWalHeader, type WalCommit } from '../../../src/adapters/connectors/sqlite/sqlite-wal.js';
import { Database } from '../../helpers/sqlite-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
let wal: Buffer;

beforeAll(async () => {
  dir = await tempDir('dbb-wal-');
  const db = new Database(join(dir.path, 'a.db'));
  db.exec('PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x)');
  db.exec("INSERT INTO t VALUES ('one')");
  db.exec("INSERT INTO t VALUES ('two')");
  wal = await readFile(join(dir.path, 'a.db-wal'));
  db.close();
});

afterAll(async () => {
  await dir?.cleanup();
});

async function commitsOf(bytes: Buffer): Promise<{ commits: WalCommit[]; frame: number }> {
  const file = join(dir.path, `copy-${Math.random()}.wal`);
  await writeFile(file, bytes);
  const handle = await open(file, 'r');
  try {
    const header = (await readWalHeader(handle))!;
    const commits: WalCommit[] = [];
    const end = await readCommits(handle, header, cursorAtStart(header), (c) => commits.push(c));
    return { commits, frame: end.frame };
  } finally {
    await handle.close();
  }
}

describe('SQLite WAL reader', () => {
  it("reads SQLite's own log: three commits (CREATE, two INSERTs) with the database size after each", async () => {
    const { commits, frame } = await commitsOf(wal);
    expect(commits).toHaveLength(3);
    expect(commits.map((c) => c.pageCount)).toEqual([2, 2, 2]);
    expect(commits[2]!.pages.get(2)!.includes(Buffer.from('two'))).toBe(true);
    expect(frame).toBe((wal.length - 32) / (24 + 4096));
  });

  it('a damaged or cut last frame ends the log at the commit before it', async () => {
    const damaged = Buffer.from(wal);
    damaged[damaged.length - 100]! ^= 0xff;
    expect((await commitsOf(damaged)).commits).toHaveLength(2);
    expect((await commitsOf(wal.subarray(0, wal.length - 1))).commits).toHaveLength(2);
  });

  it('frames of another cycle (other salts) are not read', async () => {
    const other = Buffer.from(wal);
    other.writeUInt32BE(other.readUInt32BE(32 + 8) + 1, 32 + 8);
    expect((await commitsOf(other)).commits).toHaveLength(0);
  });

  it('a cursor survives its manifest form', () => {
    const c = { salt1: 0xdeadbeef, salt2: 1, frame: 42, cksum: [7, 0xffffffff] as [number, number] };
    expect(positionToCursor(JSON.parse(JSON.stringify(cursorToPosition(c))))).toEqual(c);
    expect(positionToCursor({ wal: 'zz', frame: 1, cksum: '00' })).toBeUndefined();
  });
});
