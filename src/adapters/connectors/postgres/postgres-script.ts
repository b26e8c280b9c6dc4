import type { TocItem } from './postgres-toc.js';

/** Session settings a restore (ours or psql's) runs under; the DDL is fully schema-qualified. */
export const RESTORE_SETTINGS = [
  "SET client_encoding = 'UTF8';",
  'SET standard_conforming_strings = on;',
  "SELECT pg_catalog.set_config('search_path', '', false);",
  'SET check_function_bodies = false;',
  'SET xmloption = content;',
  "SET client_min_messages = 'warning';",
  'SET row_security = off;',
  "SET DateStyle = 'ISO, YMD';",
  'SET IntervalStyle = postgres;',
  "SET TimeZone = 'UTC';",
];

/**
 * A psql-runnable script of items (schema.sql holds pre-data, post-data.sql the sequence values
 * and post-data), so a backup can be restored by hand: psql -f schema.sql, \copy each data part,
 * psql -f post-data.sql. Ownership and grants are included, as pg_dump does. Yielded line by line
 * (each with its newline), so that the writer streams it.
 */
export function* sqlScriptLines(items: TocItem[], section: 'pre-data' | 'post-data', database: string, at: Date): Generator<string> {
  const head = [
    `--\n-- dbbackup ${section} of PostgreSQL database ${JSON.stringify(database)}, consistent at ${at.toISOString()}`,
    section === 'pre-data'
      ? '-- Restore by hand: psql -f schema.sql; then for each data/<table>.<n>.copy part (decompressed):\n' +
        "--   \\copy <table> (<columns from toc.json>) FROM '<part>'; then psql -f post-data.sql\n--"
      : '--',
    '',
    ...RESTORE_SETTINGS,
    '',
  ];
  for (const line of head) yield `${line}\n`;
  for (const item of items) {
    yield `-- Name: ${item.name.replace(/\n/g, ' ')}; Type: ${item.kind}; Schema: ${item.schema ?? '-'}\n`;
    yield `${item.sql}\n`;
    if (item.owner) yield `${item.owner}\n`;
    if (item.acl) yield `${item.acl}\n`;
    yield '\n';
  }
}
