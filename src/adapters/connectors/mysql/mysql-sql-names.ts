import { qi } from './mysql-connection.js';

/**
 * Database names as qualifiers (`db`.t, db.t) in one SQL statement, found by a small scanner that
 * skips string literals ('…', "…" with backslash and doubled-quote escapes) and comments (--, #,
 * /* … *\/) and reads identifiers bare or in backticks. A name is a qualifier when a `.` follows
 * it directly. Enough for replaying a binlog's statements into renamed databases; not a parser.
 */
interface Qualifier {
  start: number;
  end: number;
  name: string;
}

function* qualifiers(sql: string): Generator<Qualifier> {
  let i = 0;
  let prevDot = false;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      i = skipString(sql, i, c);
      prevDot = false;
      continue;
    }
    if ((c === '-' && sql[i + 1] === '-' && /\s/.test(sql[i + 2] ?? ' ')) || c === '#') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl + 1;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
      continue;
    }
    if (c === '`') {
      let j = i + 1;
      let name = '';
      while (j < sql.length) {
        if (sql[j] === '`') {
          if (sql[j + 1] === '`') {
            name += '`';
            j += 2;
            continue;
          }
          break;
        }
        name += sql[j++];
      }
      const end = j + 1;
      if (!prevDot && sql[end] === '.') yield { start: i, end, name };
      prevDot = false;
      i = end;
      continue;
    }
    if (/[\w$]/.test(c) && !/[\w$]/.test(sql[i - 1] ?? ' ')) {
      let j = i;
      while (j < sql.length && /[\w$\u0080-\uffff]/.test(sql[j]!)) j++;
      const word = sql.slice(i, j);
      // A bare qualifier is not a number (1.5) and is not itself after a dot (t.c.x).
      if (!prevDot && sql[j] === '.' && !/^\d+$/.test(word)) yield { start: i, end: j, name: word };
      prevDot = false;
      i = j;
      continue;
    }
    prevDot = c === '.';
    i++;
  }
}

function skipString(sql: string, i: number, quote: string): number {
  let j = i + 1;
  while (j < sql.length) {
    if (sql[j] === '\\') j += 2;
    else if (sql[j] === quote && sql[j + 1] === quote) j += 2;
    else if (sql[j] === quote) return j + 1;
    else j++;
  }
  return j;
}

/** The databases `sql` names as qualifiers (case as written). */
export function qualifyingDatabases(sql: string): Set<string> {
  return new Set([...qualifiers(sql)].map((q) => q.name));
}

/** `sql` with every qualifier naming a database of `map` replaced by its new name. */
export function renameDatabases(sql: string, map: Map<string, string>): string {
  let out = '';
  let at = 0;
  for (const q of qualifiers(sql)) {
    const to = map.get(q.name);
    if (to === undefined || to === q.name) continue;
    out += sql.slice(at, q.start) + qi(to);
    at = q.end;
  }
  return out + sql.slice(at);
}

/** What replaying a binlog statement may do; `database` names the database a database-level statement is about. */
export type StatementAction = { action: 'replay' } | { action: 'skip' } | { action: 'database'; name: string };

const REPLAYED = new Set(['CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'SAVEPOINT', 'RELEASE', 'ANALYZE', 'OPTIMIZE', 'REPAIR']);
const SERVER_LEVEL = /^(?:CREATE|ALTER|DROP|RENAME)\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*\S+\s+)?(USER|ROLE|SERVER|TABLESPACE|LOGFILE|RESOURCE|DATABASE|SCHEMA)\b(?:\s+IF\s+(?:NOT\s+)?EXISTS)?\s*(`(?:[^`]|``)+`|[\w$]+)?/i;

/**
 * Which binlog statements a replay runs (the stored log is untrusted input like any part): the DDL
 * and DML of objects; never accounts, grants, plugins, servers or settings (`skip`: server-level,
 * as a full backup leaves them out too). A database-level statement names its database: one of
 * the backup's cannot be followed under another name and stops the replay.
 */
export function statementAction(sql: string): StatementAction {
  const text = sql.replace(/^(?:\s+|\/\*(?!!)[\s\S]*?\*\/|(?:--\s|#)[^\n]*\n?)*/, '');
  const word = /^[A-Za-z]+/.exec(text)?.[0]?.toUpperCase() ?? '';
  if (!REPLAYED.has(word)) return { action: 'skip' };
  const m = SERVER_LEVEL.exec(text);
  const level = m?.[1]?.toUpperCase();
  if (level === 'DATABASE' || level === 'SCHEMA') {
    const raw = m?.[2] ?? '';
    return { action: 'database', name: raw.startsWith('`') ? raw.slice(1, -1).replace(/``/g, '`') : raw };
  }
  return level ? { action: 'skip' } : { action: 'replay' };
}
