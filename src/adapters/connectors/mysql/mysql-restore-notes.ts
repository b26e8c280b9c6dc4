import { definerAccount, mentionsDatabase, originalDefiner, requalify, unqualifyTrigger, withOriginalDefiner } from './mysql-ddl.js';
import type { MysqlConnection } from './mysql-connection.js';
import { renameDatabases } from './mysql-sql-names.js';
import type { RestoreScope } from './mysql-restore-scope.js';
import type { BlockKind, ScriptBlock } from './mysql-script.js';

/** Blocks whose text the server wrote (SHOW CREATE TABLE/VIEW): their database qualifiers can be rewritten safely. */
const SERVER_WRITTEN: BlockKind[] = ['table', 'sequence', 'view', 'indexes'];
/** Blocks whose bodies the user wrote: qualifiers outside string literals are renamed by the statement scanner. */
const USER_WRITTEN: BlockKind[] = ['function', 'procedure', 'package', 'package body', 'trigger', 'event'];

/**
 * The statements of `block` as this restore runs them: under a new database name the server's
 * own qualifiers (NEXTVAL(`db`.`seq`)), a trigger's qualified name and table, and the qualifiers
 * naming the source database in routine, trigger and event bodies (`db`.t, db.t) follow the
 * rename, so a copy never reads or writes the original database behind the user's back; names in
 * string literals (dynamic SQL) cannot be followed and are reported by restoreNotes. With
 * --restore-owner the original DEFINER goes back into the CREATE.
 */
export function restoreStatements(block: ScriptBlock, scope: RestoreScope, restoreOwner: boolean): string[] {
  const source = block.meta.db;
  const target = source === undefined ? undefined : scope.dbMap.get(source);
  const renamed = source !== undefined && target !== undefined && source !== target;
  return block.statements.map((sql) => {
    let out = renamed && block.meta.kind === 'trigger' ? unqualifyTrigger(sql) : sql;
    if (restoreOwner) out = withOriginalDefiner(out);
    if (renamed && SERVER_WRITTEN.includes(block.meta.kind)) out = requalify(out, source, target);
    if (renamed && USER_WRITTEN.includes(block.meta.kind)) out = renameDatabases(out, new Map([[source, target]]));
    return out;
  });
}

/**
 * What the user should know about what the restore could not reproduce as it was: objects now
 * owned by another definer (or whose definer does not exist on the target), and bodies that
 * still name the original database after a restore under a new name (in a string literal, as
 * dynamic SQL does, or "db".t under ANSI_QUOTES).
 */
export async function restoreNotes(conn: MysqlConnection, blocks: ScriptBlock[], scope: RestoreScope, restoreOwner: boolean): Promise<string[]> {
  const notes: string[] = [];
  const owned = new Map<string, string[]>();
  for (const block of blocks) {
    const definer = block.statements.map(originalDefiner).find((d) => d !== undefined);
    if (definer === undefined) continue;
    const account = definerAccount(definer);
    const key = `${account.user}@${account.host}`;
    owned.set(key, [...(owned.get(key) ?? []), describe(block, scope)]);
  }
  const [rows] = await conn.query('SELECT CURRENT_USER() AS u');
  const me = String((rows as { u: string }[])[0]?.u ?? '');
  if (!restoreOwner) {
    const others = [...owned].filter(([account]) => account !== me);
    if (others.length) {
      notes.push(
        `${others.reduce((n, [, objects]) => n + objects.length, 0)} views, routines, triggers or events were created with ${me} as DEFINER instead of ` +
          `${others.map(([account, objects]) => `${account} (${list(objects)})`).join('; ')}; SQL SECURITY DEFINER objects now run with ${me}'s privileges. ` +
          'Pass --restore-owner to keep the original definers.',
      );
    }
  } else {
    const missing = await missingAccounts(conn, [...owned.keys()].filter((a) => a !== me));
    for (const account of missing) {
      notes.push(`The definer ${account} of ${list(owned.get(account)!)} does not exist on this server: those objects fail when used until it is created (CREATE USER).`);
    }
  }
  notes.push(...(await droppedEvents(conn, blocks, scope)));
  const renamed = [...scope.dbMap].filter(([source, target]) => source !== target);
  for (const [source, target] of renamed) {
    const naming = blocks.filter(
      (b) => b.meta.db === source && USER_WRITTEN.includes(b.meta.kind) && restoreStatements(b, scope, false).some((s) => mentionsDatabase(s, source)),
    );
    if (naming.length) {
      notes.push(
        `Restored as ${target}, ${list(naming.map((b) => describe(b, scope)))} still name the database ${source} in their bodies ` +
          `where it could not be renamed (a string literal, such as dynamic SQL, or a "quoted" name), so they use ${source}, not ${target}; edit them if that is not intended.`,
      );
    }
  }
  return notes;
}

/**
 * Events the server dropped right after creating them: a one-time event (AT) whose time has
 * passed and that is ON COMPLETION NOT PRESERVE (it was still there in the source only because the
 * event scheduler was off, e.g. on a replica). The server says so in a note only.
 */
async function droppedEvents(conn: MysqlConnection, blocks: ScriptBlock[], scope: RestoreScope): Promise<string[]> {
  const events = blocks.filter((b) => b.meta.kind === 'event' && b.meta.db !== undefined);
  if (events.length === 0) return [];
  const targets = [...new Set(events.map((b) => scope.dbMap.get(b.meta.db!)!))];
  const [rows] = await conn.query(
    `SELECT EVENT_SCHEMA AS db, EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN (${targets.map(() => '?').join(', ')})`,
    targets,
  );
  const present = new Set((rows as { db: string; name: string }[]).map((r) => `${r.db}\u0000${r.name}`));
  const gone = events.filter((b) => !present.has(`${scope.dbMap.get(b.meta.db!)}\u0000${b.meta.name}`));
  return gone.length
    ? [`${list(gone.map((b) => describe(b, scope)))}: dropped by the server right after creation (a one-time event whose time has passed, ON COMPLETION NOT PRESERVE); its definition is in post-data.sql.`]
    : [];
}

/** Accounts among `accounts` that the server does not know; none when mysql.user cannot be read. */
async function missingAccounts(conn: MysqlConnection, accounts: string[]): Promise<string[]> {
  if (accounts.length === 0) return [];
  try {
    const [rows] = await conn.query('SELECT User AS u, Host AS h FROM mysql.user');
    const known = new Set((rows as { u: string; h: string }[]).map((r) => `${r.u}@${r.h}`));
    return accounts.filter((a) => !known.has(a));
  } catch {
    return [];
  }
}

function describe(block: ScriptBlock, scope: RestoreScope): string {
  const db = block.meta.db === undefined ? '' : `${scope.dbMap.get(block.meta.db) ?? block.meta.db}.`;
  return `${block.meta.kind} ${db}${block.meta.name ?? ''}`;
}

function list(items: string[]): string {
  return items.length > 6 ? `${items.slice(0, 6).join(', ')} and ${items.length - 6} more` : items.join(', ');
}
