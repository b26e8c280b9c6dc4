import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest } from '../../../domain/manifest.js';
import { quoteIdent } from './connection.js';
import { priority, type Toc, type TocItem } from './postgres-toc.js';

/**
 * A toc.json is untrusted input. Its objects' SQL is the backup's DDL, which a logical restore runs
 * by nature; everything else the restore puts into statements of its own is checked here before
 * the target is touched: the shape of every item, and each COPY target, which must parse as a
 * plain `schema.table` name and column names (they are re-quoted here, so nothing but names can
 * reach a COPY) naming a table the manifest declares.
 */
export function checkToc(toc: Toc, manifest: Pick<Manifest, 'id' | 'objects'>): Toc {
  const bad = (what: string): never => {
    throw new DbBackupError('E_UNSAFE_BACKUP', `The toc.json of backup ${manifest.id} is not as dbbackup writes it (${what}): the backup was altered or damaged. Nothing was restored.`, {
      details: { found: what },
    });
  };
  for (const field of ['encoding', 'collate', 'ctype'] as const) if (typeof toc[field] !== 'string') bad(`${field} is not a string`);
  if (toc.locale !== undefined && toc.locale !== null) {
    for (const field of ['provider', 'locale', 'icu_rules'] as const) {
      const v = toc.locale[field];
      if (v !== null && v !== undefined && typeof v !== 'string') bad(`locale.${field} is not a string`);
    }
  }
  const tables = new Set(manifest.objects.map((o) => o.name));
  for (const item of toc.items) {
    const where = `item ${String((item as Partial<TocItem>)?.id)}`;
    if (!item || typeof item !== 'object' || typeof item.id !== 'number') bad(`${where} has no id`);
    if (typeof item.kind !== 'string' || priority(item.kind) === undefined) bad(`${where} is of unknown kind ${String(item.kind)}`);
    if (!['pre-data', 'data', 'post-data'].includes(item.section)) bad(`${where} has no section`);
    if (typeof item.sql !== 'string' || typeof item.name !== 'string') bad(`${where} has no SQL`);
    if (!Array.isArray(item.deps) || !item.deps.every((d) => typeof d === 'number')) bad(`${where} has bad dependencies`);
    if (!Array.isArray(item.tables) || !item.tables.every((t) => typeof t === 'string')) bad(`${where} has bad tables`);
    for (const f of ['owner', 'acl', 'drop', 'skip'] as const) if (item[f] !== undefined && typeof item[f] !== 'string') bad(`${where} has a bad ${f}`);
    if (item.viaIndex !== undefined && (typeof item.viaIndex?.index !== 'string' || typeof item.viaIndex.attach !== 'string')) bad(`${where} has a bad viaIndex`);
    if (item.copy !== undefined) item.copy = checkCopy(item, tables, bad);
  }
  return toc;
}

function checkCopy(item: TocItem, tables: Set<string>, bad: (what: string) => never): NonNullable<TocItem['copy']> {
  const copy = item.copy!;
  const name = typeof copy.ident === 'string' ? qualifiedName(copy.ident) : undefined;
  if (!name) bad(`the COPY target of ${item.name} is not a table name`);
  const object = `${name![0]}.${name![1]}`;
  if (copy.object !== object || !tables.has(object)) bad(`the COPY target ${String(copy.object)} is not a table the manifest declares`);
  if (!Array.isArray(copy.columns)) bad(`the COPY columns of ${object} are not a list`);
  const columns = copy.columns.map((c) => {
    const parsed = typeof c === 'string' ? identifiers(c) : undefined;
    if (parsed?.length !== 1) bad(`a COPY column of ${object} is not a column name`);
    return quoteIdent(parsed![0]!);
  });
  return { ...copy, ident: `${quoteIdent(name![0]!)}.${quoteIdent(name![1]!)}`, columns };
}

/** `schema.table` as format('%I.%I') writes it, as its two names; undefined for anything else. */
function qualifiedName(ident: string): [string, string] | undefined {
  const parts = identifiers(ident);
  return parts?.length === 2 ? [parts[0]!, parts[1]!] : undefined;
}

const PART = /^(?:"((?:[^"]|"")+)"|([a-z_][a-z0-9_$]*))/;

/** Dot-separated identifiers (quoted, or lower-case bare as quote_ident leaves them); undefined if `text` is anything more. */
function identifiers(text: string): string[] | undefined {
  const out: string[] = [];
  let rest = text;
  for (;;) {
    const m = PART.exec(rest);
    if (!m) return undefined;
    out.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!);
    rest = rest.slice(m[0].length);
    if (rest === '') return out;
    if (rest[0] !== '.') return undefined;
    rest = rest.slice(1);
  }
}
