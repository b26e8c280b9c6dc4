import type pg from 'pg';
import type { ChangeLimit } from '../../../application/ports/change-capture.js';
import type { PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import { type PgEndpoint, openClient, quoteIdent } from './connection.js';
import type { SequenceValue } from './postgres-change-log.js';
import { partBatches, partLines } from './postgres-stream-segment.js';
import { type LoggedDdl, ddlStatement, runLoggedDdl } from './postgres-ddl-capture.js';
import { MemoryFold, foldChange } from './postgres-change-fold.js';
import { type TableInfo, match, setStatements, tableInfo, textArray } from './postgres-change-sets.js';
import type { Change, Column } from './postgres-pgoutput.js';
import { isoToMicros, lsnToBigInt } from './postgres-replication.js';

/** Where applying stops: commit times in microseconds since the Unix epoch, commit LSNs. */
interface Stop {
  micros?: bigint;
  lsn?: bigint;
}

/** What one apply did, for the outcome and its warnings. */
interface Applied {
  transactions: number;
  rows: number;
  objects: Set<string>;
  /** Tables not in the target (a selective restore): their changes are skipped. */
  skipped: Map<string, number>;
  /** Updates and deletes that found no row: the target was not the state the changes follow. */
  missing: number;
  stopped: boolean;
  lastTime?: string;
  sequences?: SequenceValue[];
}

/**
 * Applies the change-log parts of one backup to the target in commit order, each source
 * transaction in a transaction of its own, stopping before the first commit after `until`. Rows are
 * found by their replica identity with quoted identifiers and parameters only (the parts are
 * untrusted: changeLines validates every line and record). Triggers and foreign keys are not fired
 * (session_replication_role = replica), as a subscriber applies changes. Sequences are set to the
 * values read at the end of the backup. Commits do not wait for the disk (synchronous_commit = off),
 * except the last, which makes the whole apply durable before it returns.
 */
export async function applyChanges(endpoint: PgEndpoint, parts: PartSource, until: ChangeLimit | undefined, signal: AbortSignal): Promise<RestoreOutcome> {
  const stop: Stop = {
    ...(until?.time ? { micros: BigInt(until.time.getTime()) * 1000n } : {}),
    ...(typeof until?.position?.lsn === 'string' ? { lsn: lsnToBigInt(until.position.lsn) } : {}),
  };
  const client = await openClient(endpoint, endpoint.database, { pipeline: true });
  const warnings: string[] = [];
  const applied: Applied = { transactions: 0, rows: 0, objects: new Set(), skipped: new Map(), missing: 0, stopped: false };
  let applier: ChangeApplier | undefined;
  try {
    const replica = await client.query('SET session_replication_role = replica').then(
      () => true,
      () => {
        warnings.push('The restore role may not set session_replication_role (it needs superuser): triggers fired and foreign keys were checked while changes were applied, one statement per change.');
        return false;
      },
    );
    // Commits do not wait for their WAL to reach disk (the last one does, below, and with it every one before).
    await client.query('SET synchronous_commit = off');
    applier = new ChangeApplier(client, replica, applied);
    applier.runDdl = parts.manifest.logPosition?.ddl === true;
    const changeParts = parts.manifest.parts.filter((p) => p.role === 'changes');
    for (const part of changeParts) {
      if (applied.stopped) break;
      signal.throwIfAborted();
      await applyPart(applier, part.name, await parts.open(part), `${part.name} of backup ${parts.manifest.id}`, stop, applied, signal);
    }
    // Stopped early: the sequences are in the last part (written alone there, after the changes).
    const last = changeParts[changeParts.length - 1];
    if (applied.stopped && last) applied.sequences = await sequencesOf(last.name, await parts.open(last), `${last.name} of backup ${parts.manifest.id}`);
    await applier.close();
    await applier.flush();
    if (applied.sequences) await applier.setSequences(applied.sequences);
    await durable(client);
    if (applied.stopped && applied.sequences) warnings.push('Sequences were set to their values at the end of the backup, past the point restored to (never below a value in use).');
    for (const [table, n] of applied.skipped) warnings.push(`${n} change(s) to ${table} were skipped: the table is not in the target.`);
    if (applied.missing > 0) warnings.push(`${applied.missing} update(s)/delete(s) found no row to change: the target was not in the state the changes follow.`);
    return { objects: [...applied.objects].sort(), rows: applied.rows, warnings };
  } catch (err) {
    await applier?.flush().catch(() => undefined);
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Waits until every commit of the session is on disk: a synchronous commit of a transaction that
 * writes (an xid is enough: its commit record is WAL) flushes the WAL up to it, which holds every
 * asynchronous commit before it (and the sequences' setval).
 */
async function durable(client: pg.Client): Promise<void> {
  for (const sql of ['SET synchronous_commit = on', 'BEGIN', 'SELECT pg_catalog.txid_current()', 'COMMIT']) await client.query(sql);
}

async function applyPart(applier: ChangeApplier, name: string, body: NodeJS.ReadableStream, where: string, stop: Stop, applied: Applied, signal: AbortSignal): Promise<void> {
  let inTxn = false;
  let first = true;
  for await (const batch of partBatches(name, body as AsyncIterable<unknown>, where)) {
    for (const line of batch) {
      if (first !== (line.kind === 'header')) throw new DbBackupError('E_UNSAFE_BACKUP', `The change log ${where} does not start with its header line: the backup was altered or damaged.`);
      first = false;
      if (line.kind === 'begin') {
        if (inTxn) throw new DbBackupError('E_UNSAFE_BACKUP', `The change log ${where} begins a transaction inside another.`);
        if ((stop.micros !== undefined && isoToMicros(line.time) > stop.micros) || (stop.lsn !== undefined && lsnToBigInt(line.lsn) > stop.lsn)) {
          applied.stopped = true;
          (body as unknown as { destroy?: () => void }).destroy?.();
          return;
        }
        signal.throwIfAborted();
        await applier.begin();
        inTxn = true;
      } else if (line.kind === 'change') {
        if (!inTxn) throw new DbBackupError('E_UNSAFE_BACKUP', `The change log ${where} has a change outside a transaction.`);
        // Most changes only fold (no I/O): awaited only when the applier has something to wait for.
        const sending = applier.apply(line.change);
        if (sending) await sending;
      } else if (line.kind === 'commit') {
        if (!inTxn) throw new DbBackupError('E_UNSAFE_BACKUP', `The change log ${where} commits no transaction.`);
        await applier.commit();
        inTxn = false;
        applied.transactions++;
        applied.lastTime = line.time;
      } else if (line.kind === 'sequences') {
        applied.sequences = line.sequences;
      }
    }
  }
  if (inTxn) throw new DbBackupError('E_TRUNCATED', `The change log ${where} ends inside a transaction: the backup is incomplete.`);
}

async function sequencesOf(name: string, body: NodeJS.ReadableStream, where: string): Promise<SequenceValue[] | undefined> {
  let found: SequenceValue[] | undefined;
  for await (const line of partLines(name, body as AsyncIterable<unknown>, where)) {
    if (line.kind === 'sequences') found = line.sequences;
  }
  return found;
}

/** Statements in flight (sent, the connection pipelines them, their results not read yet) at most. */
const WINDOW = 2000;
/**
 * Rows in the statements in flight at most (set statements carry many: memory stays bounded). Rows held here and in the fold (GROUP_ROWS, FOLD_LIMIT) live long enough to be
 * promoted to V8's old space, where they linger as garbage until a full collection: with 20,000
 * rows (and 5,000 per group), a restore of a differential peaked at 255–280 MB RSS and of an
 * incremental chain at ~216 MB (bench/postgres-incremental.mjs, scale 20); with 2,000 each, at
 * 176–183 MB, at the same speed.
 */
const WINDOW_ROWS = 2_000;
/** Statements after which a group of whole source transactions is committed. */
const GROUP = 1000;
/** Folded rows after which a group of whole source transactions is written and committed. */
const GROUP_ROWS = 2_000;
/** Folded rows after which they are written even inside a source transaction (memory stays bounded; see WINDOW_ROWS). */
const FOLD_LIMIT = 2_000;

/**
 * Source transactions are applied in groups, each group one target transaction of whole source
 * transactions (so each stays atomic, and commits are fewer). With session_replication_role =
 * replica (no triggers, no foreign key checks, so the order between tables does not matter) the
 * row changes of a group are folded per row key (postgres-change-fold.ts) and written per table
 * with a few set-based statements; a change that does not fold (a truncate, a table without a
 * key, …) writes the fold so far, then goes alone, in order. Without it every change is a
 * statement of its own, in order. Statements are prepared once (named) and sent pipelined: past
 * WINDOW statements (or WINDOW_ROWS rows' worth) in flight the oldest results are awaited, never
 * all of them, so the server always has the next statements while the client decodes and folds
 * (bench/postgres-apply.mjs: waiting for all of them idled each side half the time). A failure
 * fails the apply, and with it the restore, as any failed restore statement does.
 */
class ChangeApplier {
  private readonly statements = new Map<string, string>();
  private pending: { done: Promise<void>; rows: number }[] = [];
  private pendingRows = 0;
  private failure: unknown;
  private open = false;
  private grouped = 0;
  private readonly fold = new MemoryFold();
  private serial = 0;
  /** Per table: what the target has (null: no such table). */
  private readonly tables = new Map<string, TableInfo | null>();
  /** The same by schema then name, with the `schema.name` reported (no string built per change). */
  private readonly byRel = new Map<string, Map<string, { info: TableInfo; name: string } | null>>();
  /** Rows of the DDL log run their statement (set for backups that captured DDL, --capture-ddl). */
  runDdl = false;

  constructor(
    private readonly client: pg.Client,
    private readonly folding: boolean,
    private readonly applied: Applied,
  ) {}

  async begin(): Promise<void> {
    if (this.open) return;
    this.open = true;
    this.grouped = 0;
    await this.send('BEGIN');
  }

  async commit(): Promise<void> {
    if (this.grouped >= GROUP || this.fold.size >= GROUP_ROWS) await this.close();
  }

  /** Writes what is folded and commits the open group, if any. */
  async close(): Promise<void> {
    await this.writeFold();
    if (!this.open) return;
    this.open = false;
    await this.send('COMMIT');
  }

  /** Waits for every statement sent; throws the first failure. */
  async flush(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    await Promise.all(pending.map((p) => p.done));
    if (this.failure !== undefined) throw this.failure;
  }

  private async send(query: string | pg.QueryConfig, then?: (result: pg.QueryResult) => void, rows = 1): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    this.grouped++;
    this.pendingRows += rows;
    this.pending.push({
      rows,
      done: this.client.query(query as pg.QueryConfig).then(
        (result: pg.QueryResult) => then?.(result),
        (err: unknown) => {
          this.failure ??= err;
        },
      ),
    });
    // The oldest results are awaited, not all: the server keeps working on the rest while the client decodes and folds what follows.
    while (this.pending.length > WINDOW || this.pendingRows > WINDOW_ROWS) {
      const oldest = this.pending.shift()!;
      this.pendingRows -= oldest.rows;
      await oldest.done;
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Applies (or folds) one change; a promise only when it has to wait (a statement, a table
   * looked up): a change that only folds allocates no async frame, which kept a differential's
   * hundreds of thousands of rows from churning the heap.
   */
  apply(change: Change): Promise<void> | undefined {
    if (this.runDdl && ddlStatement(change)) return this.applyAsync(change);
    if (change.op === 'T' || !this.folding) return this.applyAsync(change);
    const known = this.known(change.rel);
    if (known === undefined) return this.applyAsync(change);
    if (known === null) {
      this.skip(change.rel);
      return undefined;
    }
    const { info, name } = known;
    if (info.key === null && change.op === 'I' && change.new.length > 0) this.fold.put(info.ident, `#${this.serial++}`, { kind: 'image', cols: change.new, base: false });
    else if (!foldChange(this.fold, info.ident, info, change)) return this.applyAsync(change);
    this.applied.objects.add(name);
    this.applied.rows++;
    return this.fold.size >= FOLD_LIMIT ? this.writeFold() : undefined;
  }

  private async applyAsync(change: Change): Promise<void> {
    const logged = this.runDdl ? ddlStatement(change) : undefined;
    if (logged) await this.ddl(logged);
    const applied = this.applied;
    if (change.op === 'T') {
      await this.writeFold();
      const rels: string[] = [];
      for (const rel of change.rels) if (await this.table(rel)) rels.push(ident(rel));
      if (rels.length === 0) return;
      await this.send(`TRUNCATE ONLY ${rels.join(', ')}${change.restartIdentity ? ' RESTART IDENTITY' : ''}${change.cascade ? ' CASCADE' : ''}`);
      for (const rel of change.rels) applied.objects.add(`${rel[0]}.${rel[1]}`);
      applied.rows++;
      return;
    }
    const info = await this.table(change.rel);
    if (!info) return;
    applied.objects.add(`${change.rel[0]}.${change.rel[1]}`);
    applied.rows++;
    if (this.folding) {
      if (info.key === null && change.op === 'I' && change.new.length > 0) this.fold.put(info.ident, `#${this.serial++}`, { kind: 'image', cols: change.new, base: false });
      else if (!foldChange(this.fold, info.ident, info, change)) {
        await this.writeFold();
        await this.applyOne(change, info);
        return;
      }
      if (this.fold.size >= FOLD_LIMIT) await this.writeFold();
      return;
    }
    await this.applyOne(change, info);
  }

  /** A logged DDL statement, run where it stands in its transaction (after what was folded before it); the tables' cached shapes are forgotten after it. */
  private async ddl(logged: LoggedDdl): Promise<void> {
    await this.writeFold();
    await this.flush();
    await runLoggedDdl(this.client, logged);
    this.tables.clear();
    this.byRel.clear();
  }

  /** Writes the folded changes, table by table (see setStatements). */
  private async writeFold(): Promise<void> {
    for (const [rel, entries] of this.fold.drain()) {
      const info = this.tables.get(rel)!;
      for (const st of setStatements(info, entries)) {
        const expected = st.expected;
        await this.send(
          { name: this.statementName(st.text), text: st.text, values: st.values.map(textArray) },
          (result) => {
            if (expected !== undefined && (result.rowCount ?? 0) < expected) this.applied.missing += expected - (result.rowCount ?? 0);
          },
          st.values[0]?.length ?? 1,
        );
      }
    }
  }

  /** One change as a statement of its own; rows are found by their replica identity. */
  private async applyOne(change: Exclude<Change, { op: 'T' }>, info: TableInfo): Promise<void> {
    const table = info.ident;
    let sql: string;
    let values: (string | null)[];
    if (change.op === 'R') {
      sql = `DELETE FROM ONLY ${table}`;
      values = [];
    } else if (change.op === 'I' && change.new.length === 0) {
      sql = `INSERT INTO ${table} DEFAULT VALUES`;
      values = [];
    } else if (change.op === 'I') {
      sql = `INSERT INTO ${table} (${change.new.map((c) => quoteIdent(c[0])).join(', ')}) OVERRIDING SYSTEM VALUE VALUES (${change.new.map((_, i) => `$${i + 1}`).join(', ')})`;
      values = change.new.map((c) => c[1]);
    } else if (change.op === 'U') {
      if (change.new.length === 0) return;
      const set = change.new.map((c, i) => `${quoteIdent(c[0])} = $${i + 1}`).join(', ');
      const where = match(change.key, change.new.length, info.textual);
      sql = `UPDATE ${table} SET ${set} WHERE ctid = (SELECT ctid FROM ${table} WHERE ${where.sql} LIMIT 1)`;
      values = [...change.new.map((c) => c[1]), ...where.values];
    } else {
      const where = match(change.key, 0, info.textual);
      sql = `DELETE FROM ${table} WHERE ctid = (SELECT ctid FROM ${table} WHERE ${where.sql} LIMIT 1)`;
      values = where.values;
    }
    const counts = change.op === 'U' || change.op === 'D';
    await this.send({ name: this.statementName(sql), text: sql, values }, (result) => {
      if (counts && result.rowCount === 0) this.applied.missing++;
    });
  }

  async setSequences(values: SequenceValue[]): Promise<void> {
    for (const [schema, name, value, called] of values) {
      if (!(await this.table([schema, name], false))) continue;
      await this.client.query('SELECT pg_catalog.setval($1::regclass, $2::bigint, $3::boolean)', [ident([schema, name]), value, called]);
    }
  }

  /** What the target has of `rel`, or null when it has no such relation (then counted in `skipped`, once per change). */
  private async table(rel: [string, string], count = true): Promise<TableInfo | null> {
    const key = ident(rel);
    let found = this.tables.get(key);
    if (found === undefined) {
      await this.flush();
      found = await tableInfo(this.client, rel);
      this.tables.set(key, found);
      let names = this.byRel.get(rel[0]);
      if (!names) this.byRel.set(rel[0], (names = new Map()));
      names.set(rel[1], found && { info: found, name: `${rel[0]}.${rel[1]}` });
    }
    if (!found && count) this.skip(rel);
    return found;
  }

  /** What table() found of `rel` before, without waiting; undefined when it was not looked up yet. */
  private known(rel: [string, string]): { info: TableInfo; name: string } | null | undefined {
    return this.byRel.get(rel[0])?.get(rel[1]);
  }

  private skip(rel: [string, string]): void {
    const name = `${rel[0]}.${rel[1]}`;
    this.applied.skipped.set(name, (this.applied.skipped.get(name) ?? 0) + 1);
  }

  private statementName(sql: string): string {
    let name = this.statements.get(sql);
    if (!name) {
      name = `dbbackup_apply_${this.statements.size}`;
      this.statements.set(sql, name);
    }
    return name;
  }
}

function ident(rel: [string, string]): string {
  return `${quoteIdent(rel[0])}.${quoteIdent(rel[1])}`;
}
