import type { Readable } from 'node:stream';
import type { ApplyOnto, ChangeLimit } from '../../../application/ports/change-capture.js';
import type { PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import { BinlogApplier } from './mysql-binlog-applier.js';
import { BINLOG_MAGIC, HEADER_LENGTH } from './mysql-binlog-events.js';
import { GtidSkipper, gtidReplayPlan, type TargetGtids } from './mysql-binlog-gtids.js';
import { findStop } from './mysql-binlog-index.js';
import { type OntoCount, placeOnto } from './mysql-binlog-onto.js';
import { ParallelReplay } from './mysql-binlog-parallel.js';
import { reachedGtids, setSlavePos } from './mysql-binlog-reached.js';
import { isAccessDenied } from './mysql-binlog-settings.js';
import { TableKeys } from './mysql-binlog-table-keys.js';
import { closeConnection, type MysqlEndpoint, openConnection } from './mysql-connection.js';

/** Connections of a replay unless the endpoint says (`--replay-connections`). */
const DEFAULT_CONNECTIONS = 4;

/** Events above this size are refused (the server's own max_allowed_packet limit is 1 GiB). */
const MAX_EVENT = 1 << 30;

/**
 * Replays a link's stored binlog parts in one session (temporary tables live in it), as
 * `mariadb-binlog | mariadb` would but without either: each part's FORMAT_DESCRIPTION and its
 * TABLE_MAP + rows events go back as `BINLOG '<base64>'` statements, QUERY events run as SQL with
 * their database, sql_mode, character set, time zone and timestamp. Transactions replay in their
 * order, several in one target transaction and their row events in few BINLOG statements (see
 * BinlogApplier); the session does not write the target's binary log when the user may turn it off.
 * The replay stops after the last transaction the index puts at or before `until`, and commits there.
 * Only the databases of `dbMap` are replayed (the log is the whole server's): row events by their
 * TABLE_MAP's database, statements by their default database or a qualifier naming one of them.
 * `dbMap` also renames: TABLE_MAP events are rewritten, USE follows, qualifiers in statements are
 * rewritten (mysql-sql-names.ts). `tables` (--tables) limits row events to those tables and
 * refuses any statement of the databases (its effect on the chosen tables is unknown). A statement's rows events go back in one BINLOG statement, so the target's
 * max_allowed_packet must hold the largest statement's row images (base64, 4/3 of their size).
 * A failure rolls back the open target transaction and throws: the target then holds the source's
 * state at some earlier transaction, and the restore has failed.
 * With `--replay-gtids keep` (e.replayGtids, MariaDB): source transactions whose GTID the target
 * already holds are skipped, unless `reset` says a full was restored into the target in this
 * session (its data is then the full's, whatever its GTID state says), and the others carry their
 * GTID where the target allows it (mysql-binlog-gtids.ts) — one connection, each such transaction
 * committed alone, so that the target's GTID state only moves forward and always matches its data.
 * With `onto` (`restore --changes-only`, no full restored first): the same, always, on a MariaDB
 * target that can record the GTIDs it replays (else E_UNSUPPORTED: a second run would apply them
 * again); mysql-binlog-onto.ts first places the target's state on the link (E_TARGET_STATE) and
 * counts what is applied and skipped (`onto.dryRun`: only that). `continues`: the previous link of
 * this run was replayed to its end, where this one starts.
 */
export async function applyBinlogChanges(
  e: MysqlEndpoint,
  parts: PartSource,
  until: ChangeLimit | undefined,
  signal: AbortSignal,
  dbMap: Map<string, string>,
  tables?: Set<string>,
  reset = false,
  onto?: ApplyOnto & { continues: boolean },
): Promise<RestoreOutcome> {
  const stop = await findStop(parts, until);
  const keep = e.replayGtids === 'keep' || onto !== undefined;
  const binlogs = parts.manifest.parts.filter((p) => p.role === 'changes' && /^changes\/\d{6}\.binlog(\.|$)/.test(p.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
  // The first part opens (storage, decompression) while the connections are made.
  let first = stop !== 'nothing' && binlogs.length > 0 && !onto?.dryRun ? parts.open(binlogs[0]!) : undefined;
  first?.catch(() => undefined);
  const unused = () => void first?.then((s) => s.destroy(), () => undefined);
  const count = keep || stop === 'nothing' || binlogs.length === 0 ? 1 : Math.max(1, Math.min(e.replayConnections ?? DEFAULT_CONNECTIONS, 16));
  const opened = await Promise.allSettled(Array.from({ length: count }, () => openConnection(e, { multipleStatements: false })));
  const conns = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const appliers: BinlogApplier[] = [];
  let parallel: ParallelReplay | undefined;
  let skipper: GtidSkipper | undefined;
  const notes: string[] = [];
  try {
    const refused = opened.find((o) => o.status === 'rejected');
    if (refused) throw refused.reason;
    let carry: TargetGtids | undefined;
    let counted: OntoCount | undefined;
    let flavor: 'mariadb' | 'mysql' | undefined;
    if (onto) {
      const placed = await placeOnto(conns[0]!, e, parts, stop, dbMap, tables, onto);
      const logPosition = await reachedGtids(parts, stop);
      if (onto.dryRun) return { objects: [], rows: 0, warnings: placed.notes, transactions: placed.count, ...(logPosition ? { logPosition } : {}) };
      counted = placed.count;
      carry = placed.state;
      flavor = placed.state.flavor;
      skipper = new GtidSkipper(placed.state);
    } else if (keep) {
      const plan = await gtidReplayPlan(conns[0]!, e);
      notes.push(...plan.notes);
      flavor = plan.flavor;
      if (plan.carry) carry = plan.state;
      if (!reset && plan.flavor) skipper = new GtidSkipper(plan.state);
    }
    appliers.push(...conns.map((c) => new BinlogApplier(c, dbMap, tables, conns.length, carry)));
    for (const a of appliers) await a.start();
    const where = `the binary log of backup ${parts.manifest.id}`;
    let sink: { event(event: Buffer, where: string): Promise<void>; finish(): Promise<void> } = appliers[0]!;
    if (appliers.length > 1) {
      const keys = new TableKeys(conns[0]!, dbMap, tables);
      await keys.load();
      parallel = new ParallelReplay(appliers, where, (db, table) => keys.of(db, table), () => keys.load());
      const p = parallel;
      sink = { event: (ev) => p.event(ev), finish: () => p.finish() };
    }
    if (stop !== 'nothing') {
      for (const part of binlogs) {
        signal.throwIfAborted();
        const base = part.name.replace(/(\.binlog)\..*$/, '$1');
        const stream = first ? await first : await parts.open(part);
        first = undefined;
        let offset = BINLOG_MAGIC.length;
        let done = false;
        for await (const event of framedEvents(stream, `${part.name} of backup ${parts.manifest.id}`)) {
          signal.throwIfAborted();
          offset += event.length;
          if (!skipper || skipper.pass(event)) await sink.event(event, `${part.name} of backup ${parts.manifest.id}`);
          if (stop && stop.part === base && offset >= stop.end) {
            done = true;
            stream.destroy();
            break;
          }
        }
        if (done) break;
      }
    }
    await sink.finish();
    const logPosition = await reachedGtids(parts, stop);
    if (e.setGtidSlavePos && flavor === 'mariadb' && logPosition) {
      notes.push(`gtid_slave_pos set to ${await setSlavePos(conns[0]!, logPosition)} (the GTID position the replay reached): CHANGE MASTER TO … MASTER_USE_GTID = slave_pos replicates from the source from there.`);
    }
    const skipped = appliers.reduce((n, a) => n + a.skipped, 0);
    const warnings = skipped > 0 ? [`${skipped} statement(s) of the binary log were not replayed: server-level (accounts, grants, plugins, settings) or not DDL/DML of the backup's objects.`] : [];
    warnings.push(...notes);
    if (skipper?.skipped && !counted) warnings.push(`${skipper.skipped} transaction(s) of the binary log were skipped: the target already holds their GTIDs (--replay-gtids keep).`);
    const objects = [...new Set(appliers.flatMap((a) => [...a.tables]))].sort();
    return { objects, rows: 0, warnings, ...(counted ? { transactions: counted } : {}), ...(logPosition ? { logPosition } : {}) };
  } catch (err) {
    await parallel?.halt(err);
    await Promise.all(conns.map((c) => c.query('ROLLBACK').catch(() => undefined)));
    if (isAccessDenied(err)) {
      throw new DbBackupError('E_AUTH', `The MySQL user may not replay binary log events (${(err as Error).message}); MariaDB needs GRANT BINLOG REPLAY ON *.*, MySQL the SUPER or BINLOG_ADMIN privilege (and the rights on the tables).`, { cause: err });
    }
    throw err;
  } finally {
    unused();
    await Promise.all(conns.map((c) => closeConnection(c)));
  }
}

/** The events of a stored binlog file (magic first), each a whole buffer; bounded sizes. Chunks are joined only once an event is complete. */
async function* framedEvents(stream: Readable, where: string): AsyncGenerator<Buffer> {
  let chunks: Buffer[] = [];
  let length = 0;
  let need = BINLOG_MAGIC.length;
  let magic = false;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
    while (length >= need) {
      let buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
      if (!magic) {
        if (!buf.subarray(0, 4).equals(BINLOG_MAGIC)) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} is not a binary log file.`);
        buf = buf.subarray(4);
        magic = true;
      }
      while (buf.length >= HEADER_LENGTH) {
        const size = buf.readUInt32LE(9);
        if (size < HEADER_LENGTH || size > MAX_EVENT) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${where} holds an event of ${size} bytes: damaged or not a binary log.`);
        if (buf.length < size) break;
        yield Buffer.from(buf.subarray(0, size));
        buf = buf.subarray(size);
      }
      chunks = buf.length > 0 ? [buf] : [];
      length = buf.length;
      need = buf.length >= HEADER_LENGTH ? buf.readUInt32LE(9) : HEADER_LENGTH;
    }
  }
  if (length > 0 || !magic) throw new DbBackupError('E_TRUNCATED', `${where} ends inside an event.`);
}
