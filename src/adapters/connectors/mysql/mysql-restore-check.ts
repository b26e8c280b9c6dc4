import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest } from '../../../domain/manifest.js';
import type { MysqlConnection } from './mysql-connection.js';
import type { RestoreScope } from './mysql-restore-scope.js';
import type { BlockKind, ScriptBlock } from './mysql-script.js';

/**
 * The SQL scripts of a backup are untrusted input. A restore runs a block only when every
 * statement in it is what a block of its kind holds: session SETs of a few variables with plain
 * values, and one CREATE (or, for secondary keys, ALTER TABLE … ADD KEY; for a sequence's value,
 * SELECT SETVAL) of the very object the block's marker names — unqualified or qualified with the
 * block's own database — on the table it names. The marker's object must be one the manifest
 * declares, so --tables picks statements by what they create, not by what a comment says.
 * Connections run one statement per query (no multipleStatements), so a statement cannot carry
 * another after a `;`.
 */
export function checkBlocks(blocks: ScriptBlock[], manifest: Pick<Manifest, 'id' | 'objects'>): void {
  const declared = new Set(manifest.objects.map((o) => `${o.type}\u0000${o.name}`));
  for (const block of blocks) {
    const m = block.meta;
    if (m.kind === 'database') continue; // never run by dbbackup (it creates and USEs the targets itself)
    const fail = (found: string): never => {
      throw new DbBackupError(
        'E_UNSAFE_BACKUP',
        `The ${m.kind} block ${m.db ?? ''}.${m.name ?? ''} of backup ${manifest.id} holds ${found}: the backup was altered or damaged. Nothing was restored.`,
        { details: { kind: m.kind, db: m.db, name: m.name, found } },
      );
    };
    if (m.kind === 'session') {
      for (const s of block.statements) if (!isSessionSet(s)) fail(`a statement that is not a session SET (${brief(s)})`);
      continue;
    }
    if (typeof m.db !== 'string' || typeof m.name !== 'string') fail('no database or object name');
    if ((m.kind === 'indexes' || m.kind === 'sequence-value') && m.table !== m.name) fail(`keys or a value of ${m.name} marked as ${String(m.table)}'s`);
    const owner = OWNED_BY_TABLE.includes(m.kind) ? m.table : m.name;
    const expected = EXPECTED_TYPES[m.kind];
    if (!expected) fail(`an unknown kind of block`);
    if (!expected!.some((type) => declared.has(`${type}\u0000${m.db}.${owner ?? ''}`))) fail(`an object the manifest does not declare as ${expected!.join(' or ')} (${m.db}.${owner ?? '?'})`);
    const main = block.statements.filter((s) => !isSessionSet(s));
    if (main.length !== 1) fail(`${main.length} statements besides session settings`);
    const problem = checkStatement(m.kind, main[0]!, m.db!, m.name!, m.table);
    if (problem) fail(problem);
  }
}

/** Block kinds whose marker names their table in `table` (an index block, a trigger, a sequence's value). */
const OWNED_BY_TABLE: BlockKind[] = ['indexes', 'trigger', 'sequence-value'];

/** The manifest types the object a block belongs to may have. */
const EXPECTED_TYPES: Partial<Record<BlockKind, string[]>> = {
  table: ['table'],
  sequence: ['sequence'],
  view: ['view'],
  function: ['function'],
  procedure: ['procedure'],
  package: ['package'],
  'package body': ['package body'],
  event: ['event'],
  indexes: ['table'],
  trigger: ['table'],
  'sequence-value': ['sequence'],
};

const VALUE = String.raw`(?:'[^'\\]*'|[A-Za-z0-9_+\-:/.]+)`;
const SESSION_SET = new RegExp(
  String.raw`^\s*SET\s+(?:NAMES\s+[A-Za-z0-9_]+|(?:SQL_MODE|TIME_ZONE|FOREIGN_KEY_CHECKS|UNIQUE_CHECKS|character_set_client|collation_connection)\s*=\s*${VALUE})\s*$`,
  'i',
);

/** A SET of one of the session variables the scripts set (sql_mode, time zone, charsets, checks) to a plain value. */
export function isSessionSet(sql: string): boolean {
  return SESSION_SET.test(sql);
}

function brief(sql: string): string {
  const s = sql.replace(/\s+/g, ' ').trim();
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

interface Token {
  word?: string;
  name?: string;
  punct?: string;
}

const HEAD_WORDS: Partial<Record<BlockKind, string[]>> = {
  table: ['TABLE'],
  sequence: ['SEQUENCE'],
  view: ['VIEW'],
  function: ['FUNCTION'],
  procedure: ['PROCEDURE'],
  package: ['PACKAGE'],
  'package body': ['PACKAGE', 'BODY'],
  event: ['EVENT'],
  trigger: ['TRIGGER'],
};

/** What is wrong with `sql` as the one statement of a `kind` block for `name` (undefined if nothing). */
function checkStatement(kind: BlockKind, sql: string, db: string, name: string, table: string | undefined): string | undefined {
  if (kind === 'sequence-value') {
    const m = /^\s*SELECT SETVAL\((`(?:[^`]|``)+`), -?\d+, [01](?:, \d+)?\)\s*$/.exec(sql);
    return m && m[1]!.slice(1, -1).replace(/``/g, '`') === name ? undefined : `a statement other than SETVAL of ${name} (${brief(sql)})`;
  }
  const t = tokens(sql, 400);
  let i = 0;
  const objectName = (): string | undefined => {
    const first = t[i++]?.name;
    if (t[i]?.punct !== '.') return first;
    i++;
    return first === db ? t[i++]?.name : undefined;
  };
  if (kind === 'indexes') {
    if (t[0]?.word !== 'ALTER' || t[1]?.word !== 'TABLE') return `a statement other than ALTER TABLE (${brief(sql)})`;
    i = 2;
    if (objectName() !== name) return `an ALTER of another table (${brief(sql)})`;
    return addsKeysOnly(t.slice(i)) ? undefined : `an ALTER TABLE that does more than add keys (${brief(sql)})`;
  }
  if (t[i++]?.word !== 'CREATE') return `a statement other than CREATE (${brief(sql)})`;
  if (t[i]?.word === 'OR' && t[i + 1]?.word === 'REPLACE') i += 2;
  // View and routine options before the kind: ALGORITHM = x, DEFINER = account, SQL SECURITY x, AGGREGATE.
  for (;;) {
    const w = t[i]?.word;
    if ((w === 'ALGORITHM' || w === 'DEFINER') && t[i + 1]?.punct === '=') {
      i += 3;
      if (w === 'DEFINER' && t[i]?.punct === '@') i += 2; // user@host
      else if (w === 'DEFINER' && t[i]?.punct === '(' && t[i + 1]?.punct === ')') i += 2; // CURRENT_USER()
    } else if (w === 'SQL' && t[i + 1]?.word === 'SECURITY') i += 3;
    else if (w === 'AGGREGATE') i += 1;
    else break;
  }
  const head = HEAD_WORDS[kind] ?? [];
  if (!head.every((w, k) => t[i + k]?.word === w)) return `a statement that does not create a ${kind} (${brief(sql)})`;
  i += head.length;
  if (t[i]?.word === 'IF' && t[i + 1]?.word === 'NOT' && t[i + 2]?.word === 'EXISTS') i += 3;
  const created = objectName();
  if (created !== name) return `a CREATE of another object, "${created ?? '?'}" (${brief(sql)})`;
  if (kind === 'table' && t[i]?.punct !== '(') return `a table created otherwise than from a column list (${brief(sql)})`;
  if (kind === 'trigger') {
    if (!['BEFORE', 'AFTER'].includes(t[i++]?.word ?? '') || !['INSERT', 'UPDATE', 'DELETE'].includes(t[i++]?.word ?? '') || t[i++]?.word !== 'ON') {
      return `a trigger head that is not BEFORE|AFTER INSERT|UPDATE|DELETE ON (${brief(sql)})`;
    }
    if (objectName() !== table) return `a trigger on another table than ${table ?? '?'} (${brief(sql)})`;
  }
  return undefined;
}

/** `ADD [UNIQUE] KEY|INDEX …` clauses only, separated by top-level commas. */
function addsKeysOnly(t: Token[]): boolean {
  let depth = 0;
  let start = true;
  for (let k = 0; k < t.length; k++) {
    const x = t[k]!;
    if (start) {
      if (x.word !== 'ADD') return false;
      const next = t[k + 1]?.word === 'UNIQUE' ? t[k + 2]?.word : t[k + 1]?.word;
      if (next !== 'KEY' && next !== 'INDEX') return false;
      start = false;
    }
    if (x.punct === '(') depth++;
    else if (x.punct === ')') depth--;
    else if (x.punct === ',' && depth === 0) start = true;
    else if (x.punct === '/*!' || x.punct === ';') return false;
  }
  return !start && depth === 0;
}

/** MySQL tokens: comments skipped except executable ones (`/*!…`, `/*M!…`, shown as `/*!`), strings as `'`. */
function tokens(sql: string, limit: number): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < sql.length && out.length < limit) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (sql.startsWith('-- ', i) || sql.startsWith('--\n', i) || c === '#') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (sql.startsWith('/*!', i) || sql.startsWith('/*M!', i)) {
      out.push({ punct: '/*!' });
      i += 3;
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === '`' || c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      for (; j < sql.length; j++) {
        if (c !== '`' && sql[j] === '\\') value += sql[++j] ?? '';
        else if (sql[j] === c) {
          if (sql[j + 1] === c) {
            value += c;
            j++;
          } else break;
        } else value += sql[j];
      }
      // A double-quoted name under ANSI_QUOTES; a string (a definer's 'user'@'host') otherwise.
      out.push(c === "'" ? { punct: "'", name: value } : { name: value });
      i = j + 1;
    } else if (/[A-Za-z0-9_$\u0080-\uffff]/.test(c)) {
      const word = /^[A-Za-z0-9_$\u0080-\uffff]+/.exec(sql.slice(i, i + 1024))![0];
      out.push({ word: word.toUpperCase(), name: word });
      i += word.length;
    } else {
      out.push({ punct: c });
      i++;
    }
  }
  return out;
}

/**
 * Refuses a database charset or collation that is not a plain name the server knows. The names
 * come from the backup's engineInfo and go into CREATE DATABASE unquoted (MySQL takes no quoted
 * form there everywhere), so they must be words, and names on the server's own list.
 */
export async function checkCharsets(conn: MysqlConnection, scope: RestoreScope, manifestId: string, toCreate: string[]): Promise<void> {
  const wanted = scope.info.databases.filter((d) => toCreate.includes(d.name));
  if (!wanted.length) return;
  for (const d of wanted) {
    for (const v of [d.charset, d.collation]) {
      if (typeof v !== 'string' || !/^[A-Za-z0-9_]{1,64}$/.test(v)) {
        throw new DbBackupError('E_UNSAFE_BACKUP', `Backup ${manifestId} gives database ${d.name} the charset or collation ${JSON.stringify(v)}, which is not a name: the backup was altered or damaged. Nothing was restored.`);
      }
    }
  }
  const [charsets] = await conn.query('SELECT CHARACTER_SET_NAME AS n FROM information_schema.CHARACTER_SETS');
  const [collations] = await conn.query('SELECT COLLATION_NAME AS n FROM information_schema.COLLATIONS');
  const full = await conn.query('SELECT FULL_COLLATION_NAME AS n FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY').then(([rows]) => rows as { n: string }[], () => []);
  const lower = (rows: unknown) => new Set((rows as { n: string }[]).map((r) => String(r.n).toLowerCase()));
  const knownCharsets = lower(charsets);
  const knownCollations = new Set([...lower(collations), ...lower(full)]);
  for (const d of wanted) {
    if (!knownCharsets.has(d.charset.toLowerCase()) || !knownCollations.has(d.collation.toLowerCase())) {
      throw new DbBackupError(
        'E_RESTORE_FAILED',
        `Database ${d.name} uses ${d.charset} / ${d.collation}, which this server does not have; create the target database yourself with a charset and collation it has, then restore into it.`,
      );
    }
  }
}
