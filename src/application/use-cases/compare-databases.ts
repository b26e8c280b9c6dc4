import { DbBackupError } from '../../domain/errors.js';
import type { ConnectionTarget } from '../ports/connection-target.js';
import type { ConnectorRegistry } from '../ports/connector-registry.js';
import type { TableDigest } from '../ports/table-contents.js';

export interface CompareInput {
  left: ConnectionTarget;
  right: ConnectionTarget;
  tables?: string[];
}

/** One table as both sides hold it (a side that lacks it: undefined). */
export interface TableComparison {
  table: string;
  left?: Omit<TableDigest, 'table'>;
  right?: Omit<TableDigest, 'table'>;
  same: boolean;
}

export interface CompareResult {
  same: boolean;
  tables: TableComparison[];
}

/**
 * `dbbackup compare A B`: every table's row count and content hash on both sides (after a restore,
 * a migration, a replica). Both databases are read at once, each in one snapshot. Only two
 * databases of one engine compare: the hashes are that engine's canonical text of the values.
 */
export class CompareDatabases {
  constructor(private readonly deps: { connectors: ConnectorRegistry }) {}

  async execute(input: CompareInput, signal: AbortSignal): Promise<CompareResult> {
    if (input.left.engine !== input.right.engine) {
      throw new DbBackupError('E_USAGE', `compare reads two databases of one engine; got ${input.left.engine} and ${input.right.engine}.`);
    }
    const [left, right] = await Promise.all([this.digest(input.left, input.tables, signal), this.digest(input.right, input.tables, signal)]);
    const names = [...new Set([...left.keys(), ...right.keys()])].sort();
    const tables = names.map((table) => {
      const l = left.get(table);
      const r = right.get(table);
      return { table, ...(l ? { left: { rows: l.rows, hash: l.hash } } : {}), ...(r ? { right: { rows: r.rows, hash: r.hash } } : {}), same: !!l && !!r && l.rows === r.rows && l.hash === r.hash };
    });
    return { same: tables.every((t) => t.same), tables };
  }

  private async digest(target: ConnectionTarget, tables: string[] | undefined, signal: AbortSignal): Promise<Map<string, TableDigest>> {
    const connector = await this.deps.connectors.get(target.engine);
    const session = await connector.connect(target, 'backup');
    try {
      if (!session.contents) throw new DbBackupError('E_UNSUPPORTED', `${target.engine} databases cannot be compared by content here.`);
      return new Map((await session.contents.digest({ tables }, signal)).map((d) => [d.table, d]));
    } finally {
      await session.close();
    }
  }
}
