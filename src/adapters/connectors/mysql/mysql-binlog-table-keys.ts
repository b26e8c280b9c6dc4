import type { MysqlConnection } from './mysql-connection.js';

/**
 * The scheduling keys of a parallel replay: one per replayed table, shared by tables a foreign
 * key links (directly or through others) on the target, since a row event on one checks or, by
 * ON DELETE/UPDATE CASCADE (which the log does not hold), changes rows of the other. Tables are
 * named as on the target (`dbMap` applied); a source table whose rows are not replayed (another
 * database, not among `only`) has no key.
 */
export class TableKeys {
  private readonly parent = new Map<string, string>();

  constructor(
    private readonly conn: MysqlConnection,
    private readonly dbMap: Map<string, string>,
    private readonly only?: Set<string>,
  ) {}

  /** Reads the target's foreign keys among the replayed databases (again after a DDL). */
  async load(): Promise<void> {
    this.parent.clear();
    const dbs = [...new Set(this.dbMap.values())];
    if (dbs.length === 0) return;
    const [rows] = await this.conn.query(
      `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, REFERENCED_TABLE_SCHEMA AS rs, REFERENCED_TABLE_NAME AS rt
         FROM information_schema.KEY_COLUMN_USAGE
        WHERE REFERENCED_TABLE_NAME IS NOT NULL AND (TABLE_SCHEMA IN (?) OR REFERENCED_TABLE_SCHEMA IN (?))`,
      [dbs, dbs],
    );
    for (const r of rows as { s: string; t: string; rs: string; rt: string }[]) this.union(`${r.s}.${r.t}`, `${r.rs}.${r.rt}`);
  }

  /** The key of source table `db`.`table`, or undefined when its rows are not replayed. */
  of(db: string, table: string): string | undefined {
    if (this.only && !this.only.has(`${db}.${table}`)) return undefined;
    const target = this.dbMap.get(db);
    return target === undefined ? undefined : this.find(`${target}.${table}`);
  }

  private find(k: string): string {
    let root = k;
    for (let p = this.parent.get(root); p !== undefined && p !== root; p = this.parent.get(root)) root = p;
    return root;
  }

  private union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }
}
