import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { Entry, FoldStore } from './postgres-change-fold.js';
import type { Column } from './postgres-pgoutput.js';
import { Database } from '../../../infrastructure/sqlite-driver.js';


const KIND = { image: 0, update: 1, delete: 2 } as const;
/** Statements per SQLite transaction while folding. */
const BATCH = 20_000;

/**
 * A FoldStore on disk (a temporary SQLite database in a private folder, removed by close()), so
 * that folding every change since a full needs memory independent of how many rows changed. It
 * also keeps the changes that stay in order (see postgres-differential.ts) in two ordered lists:
 * `early` (written before the folded rows) and `late` (after them).
 */
export class SpillFold implements FoldStore {
  private readonly dir: string;
  private readonly db: BetterSqlite3.Database;
  private readonly stmts;
  private pending = 0;
  private seq = 0;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'dbbackup-fold-'));
    const file = join(this.dir, 'fold.db');
    closeSync(openSync(file, 'w', 0o600));
    this.db = new Database(file);
    this.db.pragma('journal_mode = OFF');
    this.db.pragma('synchronous = OFF');
    this.db.exec(`CREATE TABLE entries (rel TEXT NOT NULL, key TEXT NOT NULL, kind INTEGER NOT NULL, base INTEGER NOT NULL, cols TEXT, PRIMARY KEY (rel, key)) WITHOUT ROWID;
      CREATE TABLE ops (seq INTEGER PRIMARY KEY, list INTEGER NOT NULL, rel TEXT, line TEXT NOT NULL);
      CREATE INDEX ops_rel ON ops (rel);`);
    this.stmts = {
      get: this.db.prepare<[string, string], { kind: number; base: number; cols: string | null }>('SELECT kind, base, cols FROM entries WHERE rel = ? AND key = ?'),
      put: this.db.prepare('INSERT OR REPLACE INTO entries (rel, key, kind, base, cols) VALUES (?, ?, ?, ?, ?)'),
      remove: this.db.prepare('DELETE FROM entries WHERE rel = ? AND key = ?'),
      dropRel: this.db.prepare('DELETE FROM entries WHERE rel = ?'),
      dropOps: this.db.prepare('DELETE FROM ops WHERE rel = ?'),
      op: this.db.prepare('INSERT INTO ops (seq, list, rel, line) VALUES (?, ?, ?, ?)'),
    };
    this.db.exec('BEGIN');
  }

  get(rel: string, key: string): Entry | undefined {
    const row = this.stmts.get.get(rel, key);
    if (!row) return undefined;
    if (row.kind === KIND.delete) return { kind: 'delete' };
    const cols = JSON.parse(row.cols!) as Column[];
    return row.kind === KIND.image ? { kind: 'image', cols, base: row.base === 1 } : { kind: 'update', cols };
  }

  put(rel: string, key: string, entry: Entry): void {
    this.stmts.put.run(rel, key, KIND[entry.kind], entry.kind === 'image' && !entry.base ? 0 : 1, entry.kind === 'delete' ? null : JSON.stringify(entry.cols));
    this.tick();
  }

  remove(rel: string, key: string): void {
    this.stmts.remove.run(rel, key);
    this.tick();
  }

  /** Forgets every folded row and ordered change of `rel` (it was truncated or replaced whole). */
  dropRelation(rel: string): void {
    this.stmts.dropRel.run(rel);
    this.stmts.dropOps.run(rel);
    this.tick();
  }

  /** Appends a change-log line to the `early` or `late` list; `rel` names the relation it belongs to (null: several). */
  addOp(list: 'early' | 'late', rel: string | null, line: string): void {
    this.stmts.op.run(this.seq++, list === 'early' ? 0 : 1, rel, line);
    this.tick();
  }

  /** The ordered lines of a list, oldest first. */
  *ops(list: 'early' | 'late'): Generator<string> {
    this.commit();
    for (const row of this.db.prepare<[number], { line: string }>('SELECT line FROM ops WHERE list = ? ORDER BY seq').iterate(list === 'early' ? 0 : 1)) yield row.line;
  }

  /**
   * The folded rows in the order they are written back: `deletes` (tombstones and images of keys
   * that may exist before), then `updates` (partial rows), then `images`; by relation and key.
   */
  *entries(sweep: 'deletes' | 'updates' | 'images'): Generator<{ rel: string; key: string; cols: Column[] | null; tombstone: boolean }> {
    this.commit();
    const where = sweep === 'deletes' ? `kind = ${KIND.delete} OR (kind = ${KIND.image} AND base = 1)` : sweep === 'updates' ? `kind = ${KIND.update}` : `kind = ${KIND.image}`;
    const rows = this.db.prepare<[], { rel: string; key: string; kind: number; cols: string | null }>(
      `SELECT rel, key, kind, ${sweep === 'deletes' ? 'NULL AS cols' : 'cols'} FROM entries WHERE ${where} ORDER BY rel, key`,
    );
    for (const row of rows.iterate()) yield { rel: row.rel, key: row.key, cols: row.cols === null ? null : (JSON.parse(row.cols) as Column[]), tombstone: row.kind === KIND.delete };
  }

  close(): void {
    try {
      this.db.close();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private tick(): void {
    if (++this.pending >= BATCH) {
      this.commit();
      this.db.exec('BEGIN');
    }
  }

  private commit(): void {
    if (this.db.inTransaction) this.db.exec('COMMIT');
    this.pending = 0;
  }
}
