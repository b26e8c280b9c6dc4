import { qi, sqlString } from './mysql-connection.js';

/** The session every restore connection (and the scripts) run under; dumps read TIMESTAMPs in UTC too. */
export const RESTORE_SQL_MODE = 'NO_AUTO_VALUE_ON_ZERO';
export const DUMP_TIME_ZONE = '+00:00';

/**
 * Foreign key checks are off (tables load in any order). Unique checks stay ON on purpose: with
 * both off, MariaDB 10.6+ switches a load into an empty table to its "bulk insert" path, which
 * measured 2.5× more server CPU than plain inserts here (and unique keys are built after the
 * load anyway).
 */
export function sessionStatements(): string[] {
  return ['SET NAMES utf8mb4', `SET TIME_ZONE = '${DUMP_TIME_ZONE}'`, `SET SQL_MODE = '${RESTORE_SQL_MODE}'`, 'SET FOREIGN_KEY_CHECKS = 0'];
}

export interface SplitTable {
  /** CREATE TABLE with the primary key, foreign keys (and the keys they use), checks and options. */
  create: string;
  /** The other secondary keys, as `ADD …` clauses in their original order. */
  deferred: string[];
}

const SECONDARY = /^ {2}(?:UNIQUE KEY|KEY|UNIQUE INDEX|INDEX)\b/;
const FOREIGN = /^ {2}(?:CONSTRAINT `(?:[^`]|``)*` )?FOREIGN KEY \(([^)]*)\)/;

/**
 * Splits SHOW CREATE TABLE so secondary indexes are built after the data is loaded (a sorted
 * index build is about twice as fast as maintaining the index row by row). Foreign keys stay in
 * the CREATE (adding some later is refused, e.g. on base columns of stored generated columns),
 * and so do the keys they rely on. Only InnoDB tables with a primary key and no FULLTEXT/SPATIAL
 * index are split: without a primary key a unique key may be the clustered index, and InnoDB
 * builds only one FULLTEXT index at a time.
 */
export function splitCreateTable(create: string): SplitTable {
  const lines = create.split('\n');
  const close = lines.findIndex((l, i) => i > 0 && l.startsWith(')'));
  const body = lines.slice(1, close);
  const splittable =
    close > 0 &&
    /\bENGINE=InnoDB\b/i.test(lines[close] ?? '') &&
    body.some((l) => l.startsWith('  PRIMARY KEY ')) &&
    !body.some((l) => /^ {2}(FULLTEXT|SPATIAL|VECTOR) /.test(l));
  if (!splittable) return { create, deferred: [] };
  const foreignColumns = body.map((l) => FOREIGN.exec(l)?.[1]).filter((c): c is string => c !== undefined).map(columnNames);
  const keyColumns = (line: string) => (SECONDARY.test(line) ? columnNames(/\((.*)\)/.exec(line)?.[1] ?? '') : undefined);
  const needed = (line: string) => {
    const cols = keyColumns(line);
    return cols !== undefined && foreignColumns.some((fk) => fk.every((c, i) => cols[i] === c));
  };
  // Keys added later go after the existing ones, so only a tail of keys can move (order is kept).
  const firstDeferred = body.reduce((at, line, i) => (needed(line) ? i + 1 : at), 0);
  const kept: string[] = [];
  const deferred: string[] = [];
  body.forEach((line, i) => {
    const clause = line.replace(/,$/, '');
    if (i >= firstDeferred && keyColumns(line)) deferred.push(`ADD ${clause.trim()}`);
    else kept.push(clause);
  });
  if (deferred.length === 0) return { create, deferred: [] };
  const rebuilt = [lines[0]!, kept.join(',\n'), ...lines.slice(close)].join('\n');
  return { create: rebuilt, deferred };
}

/** The backquoted column names in a key's column list, e.g. `a`,`b`(10) → [a, b]. */
function columnNames(list: string): string[] {
  return [...list.matchAll(/`((?:[^`]|``)*)`/g)].map((m) => m[1]!);
}

export function alterAddStatement(table: string, deferred: string[]): string {
  return `ALTER TABLE ${qi(table)}\n  ${deferred.join(',\n  ')}`;
}

/**
 * Removes the DEFINER clause from a CREATE VIEW/PROCEDURE/FUNCTION/TRIGGER/EVENT head, so the
 * object is created as the restoring user (who may not be allowed to name another definer).
 * Returns the statement and the definer that was removed.
 */
export function stripDefiner(sql: string): { sql: string; definer?: string } {
  // Quoted with backticks, or with double quotes when the object was made under ANSI_QUOTES.
  const head = /^(CREATE\b[^`'"]*?)\s+DEFINER\s*=\s*((?:`(?:[^`]|``)*`|'(?:[^']|'')*'|"(?:[^"]|"")*"|[^\s@]+)(?:@(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|"(?:[^"]|"")*"|[^\s]+))?)/i.exec(sql);
  if (!head) return { sql };
  return { sql: sql.slice(0, head[1]!.length) + sql.slice(head[0].length), definer: head[2] };
}

// Backquoted, or double-quoted when the trigger was made under ANSI_QUOTES (a trigger head holds no strings).
const IDENT = '(?:`(?:[^`]|``)*`|"(?:[^"]|"")*"|[\\w$]+)';
const TRIGGER_HEAD = new RegExp(
  `^((?:--[^\\n]*\\n)*CREATE\\s+(?:OR\\s+REPLACE\\s+)?TRIGGER\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?)(?:${IDENT}\\s*\\.\\s*)?(${IDENT})` +
    `(\\s+(?:BEFORE|AFTER)\\s+[\\s\\S]*?\\s+ON\\s+)(?:${IDENT}\\s*\\.\\s*)?(${IDENT})`,
  'i',
);

/**
 * SHOW CREATE TRIGGER returns the statement as the user typed it, so its name and table may be
 * qualified with the database (`shop`.`t`, as MySQL Workbench writes them); a restore under
 * another name needs them unqualified. Everything else is kept as typed. Leading comment lines
 * (the original-definer note) are kept.
 */
export function unqualifyTrigger(sql: string): string {
  return sql.replace(TRIGGER_HEAD, (_m, head: string, name: string, middle: string, table: string) => `${head}${name}${middle}${table}`);
}

/** Statements that set the session the way a routine, trigger, view or event was created under. */
export function creationContext(
  text: string,
  ctx: { sqlMode?: string; charsetClient?: string; collation?: string; timeZone?: string },
): { before: string[]; after: string[] } {
  const before: string[] = [];
  const after: string[] = [];
  if (ctx.sqlMode !== undefined) {
    before.push(`SET SQL_MODE = ${sqlString(ctx.sqlMode)}`);
    after.push(`SET SQL_MODE = '${RESTORE_SQL_MODE}'`);
  }
  if (ctx.timeZone !== undefined) {
    before.push(`SET TIME_ZONE = ${sqlString(ctx.timeZone)}`);
    after.push(`SET TIME_ZONE = '${DUMP_TIME_ZONE}'`);
  }
  if (ctx.charsetClient || ctx.collation) {
    // The script is UTF-8; keep the original client charset only where the text is plain ASCII.
    const client = ctx.charsetClient && /^[\x00-\x7f]*$/.test(text) ? ctx.charsetClient : 'utf8mb4';
    before.push(`SET character_set_client = ${client}`);
    if (ctx.collation) before.push(`SET collation_connection = ${ctx.collation}`);
    after.push('SET NAMES utf8mb4');
  }
  return { before, after };
}

/**
 * Orders views so each comes after the views it reads (views on views). A view depends on another
 * when its definition names it as `name` (same database) or `db`.`name`; a cycle (impossible in a
 * real server) falls back to name order.
 */
export function orderViews<T extends { db: string; name: string; sql: string }>(views: T[]): T[] {
  const key = (v: { db: string; name: string }) => `${v.db}\u0000${v.name}`;
  const deps = new Map<string, Set<string>>();
  for (const v of views) {
    const set = new Set<string>();
    for (const w of views) {
      if (w === v) continue;
      const local = w.db === v.db && v.sql.includes(qi(w.name));
      if (local || v.sql.includes(`${qi(w.db)}.${qi(w.name)}`)) set.add(key(w));
    }
    deps.set(key(v), set);
  }
  const done = new Set<string>();
  const ordered: T[] = [];
  let remaining = [...views];
  while (remaining.length) {
    const ready = remaining.filter((v) => [...deps.get(key(v))!].every((d) => done.has(d)));
    const next = ready.length ? ready : [remaining[0]!];
    for (const v of next) {
      ordered.push(v);
      done.add(key(v));
    }
    remaining = remaining.filter((v) => !done.has(key(v)));
  }
  return ordered;
}

const DEFINER_NOTE = /^-- original definer: (.*)\n/;

/** The definer a statement's header comment records (what stripDefiner removed at backup time). */
export function originalDefiner(statement: string): string | undefined {
  return DEFINER_NOTE.exec(statement)?.[1];
}

/**
 * Puts the recorded DEFINER back into the CREATE head (restore --restore-owner), where the server
 * expects it: after CREATE [OR REPLACE] [ALGORITHM = …].
 */
export function withOriginalDefiner(statement: string): string {
  const note = DEFINER_NOTE.exec(statement);
  if (!note) return statement;
  const body = statement.slice(note[0].length);
  return note[0] + body.replace(/^(CREATE\s+(?:OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?)/i, `$1DEFINER=${note[1]} `);
}

/** `user@host` of a definer as SHOW CREATE writes it (`a`@`b`, "a"@"b", 'a'@'b' or a@b). */
export function definerAccount(definer: string): { user: string; host: string } {
  const part = /^(`(?:[^`]|``)*`|"(?:[^"]|"")*"|'(?:[^']|'')*'|[^@]*)(?:@(.*))?$/.exec(definer.trim());
  const unquote = (s = '') => (/^[`"']/.test(s) ? s.slice(1, -1).replace(/``|""|''/g, (m) => m[0]!) : s);
  return { user: unquote(part?.[1]), host: unquote(part?.[2] ?? '%') };
}

/**
 * Rewrites references qualified with database `from` (`from`.`x`) to `to` in DDL the server
 * wrote itself (SHOW CREATE TABLE/VIEW under sql_mode '', identifiers always backquoted), leaving
 * string literals alone. The server qualifies some same-database references there, e.g.
 * NEXTVAL(`db`.`seq`) in a DEFAULT or a view, which must follow a restore under a new name.
 */
export function requalify(sql: string, from: string, to: string): string {
  const needle = `${qi(from)}.`;
  if (from === to || !sql.includes(needle)) return sql;
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = quotedEnd(sql, i, true);
      out += sql.slice(i, end);
      i = end;
    } else if (c === '`') {
      if (sql.startsWith(needle, i)) {
        out += `${qi(to)}.`;
        i += needle.length;
      } else {
        const end = quotedEnd(sql, i, false);
        out += sql.slice(i, end);
        i = end;
      }
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The index just past the quoted token starting at `start` (doubled quotes, and backslash escapes in strings). */
function quotedEnd(sql: string, start: number, backslash: boolean): number {
  const quote = sql[start];
  for (let i = start + 1; i < sql.length; i++) {
    if (backslash && sql[i] === '\\') i++;
    else if (sql[i] === quote) {
      if (sql[i + 1] === quote) i++;
      else return i + 1;
    }
  }
  return sql.length;
}

/**
 * Whether user-written SQL (a routine, trigger or event body) names database `db` as a qualifier
 * (`db`.x or db.x). Such bodies are kept as written, so after a restore under another name they
 * still use the original database.
 */
export function mentionsDatabase(sql: string, db: string): boolean {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const bare = /^[A-Za-z0-9_$]+$/.test(db) ? `|(?<![\\w$.\`"])${escape(db)}` : '';
  const ansi = `"${db.replace(/"/g, '""')}"`;
  return new RegExp(`(?:${escape(qi(db))}|${escape(ansi)}${bare})\\s*\\.\\s*[\`"\\w$]`).test(sql);
}
