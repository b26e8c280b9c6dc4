/**
 * Splits a PostgreSQL query string into its statements at top-level semicolons, skipping what
 * may hold one: '…' and E'…' strings, "…" identifiers, $tag$…$tag$ bodies, -- and (nested) /* … *\/
 * comments. Statements come back trimmed, empty ones dropped. For DDL replay
 * (postgres-ddl-capture.ts), where a logged query string may hold several statements.
 */
export function splitStatements(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === "'") {
      const escapes = i > 0 && /[eE]/.test(text[i - 1]!) && (i < 2 || !/[\w$]/.test(text[i - 2]!));
      i++;
      while (i < n) {
        if (escapes && text[i] === '\\') i += 2;
        else if (text[i] === "'" && text[i + 1] === "'") i += 2;
        else if (text[i] === "'") break;
        else i++;
      }
      i++;
    } else if (c === '"') {
      i = text.indexOf('"', i + 1);
      while (i !== -1 && text[i + 1] === '"') i = text.indexOf('"', i + 2);
      i = i === -1 ? n : i + 1;
    } else if (c === '-' && text[i + 1] === '-') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && text[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') (depth++, (i += 2));
        else if (text[i] === '*' && text[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
    } else if (c === '$' && (i === 0 || !/[\w$]/.test(text[i - 1]!))) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i));
      if (tag) {
        const end = text.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? n : end + tag[0].length;
      } else i++;
    } else if (c === ';') {
      const s = text.slice(start, i).trim();
      if (s) out.push(s);
      i++;
      start = i;
    } else i++;
  }
  const last = text.slice(start).trim();
  if (last) out.push(last);
  return out;
}

/** The statement's first keyword, upper-cased, after leading comments and parentheses ('' when none). */
export function firstKeyword(statement: string): string {
  const stripped = statement.replace(/^(\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/|\()+/, '');
  return (/^[A-Za-z]+/.exec(stripped)?.[0] ?? '').toUpperCase();
}
