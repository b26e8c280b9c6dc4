import { DbBackupError } from '../../../domain/errors.js';

/**
 * The SQL files of a MySQL backup (`schema.sql`, `post-data.sql`). They run as they are with the
 * mysql/mariadb client (`mariadb < schema.sql`): the whole file is under `DELIMITER ;;` and each
 * statement ends with a line holding only `;;`. Before each object's statements a comment line
 * `-- @dbbackup {json}` says what they create, so a restore can pick objects (--tables), rename
 * the database and order work without parsing SQL.
 */
export type BlockKind =
  | 'session'
  | 'database'
  | 'table'
  | 'sequence'
  | 'function'
  | 'procedure'
  | 'package'
  | 'package body'
  | 'view'
  | 'indexes'
  | 'sequence-value'
  | 'trigger'
  | 'event';

export interface BlockMeta {
  kind: BlockKind;
  /** The database the statements run in (the executor issues USE before them). */
  db?: string;
  /** The object's name within `db`. */
  name?: string;
  /** For triggers and index blocks: the table they belong to. */
  table?: string;
  charset?: string;
  collation?: string;
}

export interface ScriptBlock {
  meta: BlockMeta;
  statements: string[];
}

const MARK = '-- @dbbackup ';
const END = ';;';

/** Renders blocks as a client-runnable script. Throws if a statement would break the framing. */
export function renderScript(title: string, blocks: ScriptBlock[]): string {
  const out = [`-- ${title}`, '-- Written by dbbackup; runs with the mysql/mariadb client.', `DELIMITER ${END}`];
  for (const block of blocks) {
    out.push('', `${MARK}${JSON.stringify(block.meta)}`);
    for (const statement of block.statements) {
      if (statement.split('\n').some((line) => line.trim() === END || line.startsWith(MARK))) {
        throw new DbBackupError(
          'E_BACKUP_FAILED',
          `The definition of ${block.meta.kind} ${block.meta.db ?? ''}.${block.meta.name ?? ''} holds a line "${END}", which this backup format cannot frame.`,
        );
      }
      out.push(statement, END);
    }
  }
  out.push('', 'DELIMITER ;', '');
  return out.join('\n');
}

/** Parses what renderScript wrote. Lines before the first marker (header, DELIMITER) are skipped. */
export function parseScript(text: string): ScriptBlock[] {
  const blocks: ScriptBlock[] = [];
  let current: ScriptBlock | undefined;
  let lines: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(MARK)) {
      current = { meta: parseMeta(line.slice(MARK.length)), statements: [] };
      blocks.push(current);
      lines = [];
    } else if (current && line === END) {
      current.statements.push(lines.join('\n'));
      lines = [];
    } else if (current && !(lines.length === 0 && (line === '' || line.startsWith('DELIMITER ')))) {
      lines.push(line);
    }
  }
  return blocks;
}

function parseMeta(json: string): BlockMeta {
  let meta: unknown;
  try {
    meta = JSON.parse(json);
  } catch {
    meta = undefined;
  }
  if (!meta || typeof meta !== 'object' || typeof (meta as BlockMeta).kind !== 'string') {
    throw new DbBackupError('E_UNSAFE_BACKUP', `A script of this backup has a block marker that dbbackup did not write (${json.slice(0, 80)}): the backup was altered or damaged.`);
  }
  return meta as BlockMeta;
}
