import { Readable } from 'node:stream';
import type pg from 'pg';
import type { ChangeBatch } from '../../../application/ports/change-capture.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import { type PgEndpoint, openClient } from './connection.js';
import type { SessionClient } from './postgres-session-client.js';
import { headerLine } from './postgres-change-log.js';
import { partLines } from './postgres-stream-segment.js';
import { partName } from './postgres-slot-records.js';
import { type CapturePosition, type KeepStream, capturePosition, readChanges } from './postgres-change-read.js';
import { foldChange, keyColumns } from './postgres-change-fold.js';
import { type TableInfo, tableInfo } from './postgres-change-sets.js';
import { SpillFold } from './postgres-change-spill.js';
import { ddlStatement } from './postgres-ddl-capture.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Change } from './postgres-pgoutput.js';

/**
 * A PostgreSQL differential: the net change since the full, so that a restore applies one backup
 * after the full instead of every incremental. The slot cannot be read again from the full (each
 * incremental confirmed it further), so the differential is built from what the repository holds
 * plus what the slot holds:
 *
 * 1. `links`, the stored backups after the full up to the newest (incrementals, or an older
 *    differential and the incrementals after it), are folded per row key into a spill store on
 *    disk (postgres-change-spill.ts; memory does not grow with the rows changed): the latest image
 *    of each changed row, tombstones for deleted ones (postgres-change-fold.ts). A truncate drops
 *    what was folded for its tables and is kept, in order; so are the changes of tables without a
 *    key (kept in order, per table), and from the first change that does not fold (a key change
 *    of a row known only in part) all further changes of that table.
 * 2. The net section is written as change-log parts of synthetic transactions (xid 0) at the
 *    newest link's end P: the ordered changes, then for the folded rows every delete, every
 *    partial update, every image (so a restore deletes before it inserts: no unique conflict), then
 *    the ordered changes of tables that stopped folding.
 * 3. The slot's changes since P follow as an incremental's parts would (postgres-change-read.ts):
 *    in commit order, with the whole-table images and sequences at the end.
 *
 * So the differential restores to any commit from P to its end (its restorable range starts at the
 * newest link's end, not at the full's): the net section is applied whole, the tail up to TIME.
 * Instants between the full and P are reached through the incrementals, as before. A table read
 * whole at every backup (no key, not published) comes to the net section as its newest image only
 * (a replace drops what came before), so an instant in the tail has it as of P, as an incremental would.
 * Stored links holding captured DDL (--capture-ddl) are refused (E_UNSUPPORTED, so E_NO_PARENT):
 * rows folded across a schema change fit neither shape.
 */
export async function readDifferential(endpoint: PgEndpoint, links: readonly PartSource[], sink: PartSink, signal: AbortSignal, partSize: number, client?: SessionClient, keep?: KeepStream): Promise<ChangeBatch> {
  const newest = links[links.length - 1]!;
  const since = capturePosition(newest.manifest.logPosition, `log position of ${newest.manifest.id}`);
  const fold = new SpillFold();
  let written: { parts: number; changes: number; objects: Set<string> };
  try {
    const sql = await openClient(endpoint);
    try {
      const folder = new Folder(fold, sql);
      for (const link of links) {
        for (const part of link.manifest.parts.filter((p) => p.role === 'changes')) {
          signal.throwIfAborted();
          await folder.addPart(part.name, await link.open(part), `${part.name} of backup ${link.manifest.id}`, link.manifest.logPosition?.ddl === true ? link.manifest.id : undefined);
        }
      }
      written = await writeNet(fold, folder.tables, { ...since, time: since.time ?? newest.manifest.consistentAt.replace(/Z$/, '000Z') }, sink, partSize, signal);
    } finally {
      await sql.end().catch(() => undefined);
    }
  } finally {
    fold.close();
  }
  const tail = await readChanges(endpoint, newest.manifest.logPosition!, offsetSink(sink, written.parts), signal, partSize, client, keep);
  const objects = new Set([...written.objects, ...tail.objects.map((o) => o.name)]);
  return {
    ...tail,
    changes: tail.changes + written.changes,
    objects: [...objects].sort().map((name) => ({ name, type: 'table' })),
    engineInfo: { ...tail.engineInfo, differential: { folded: links.map((l) => l.manifest.id), netChanges: written.changes, from: since.lsn } },
    replaysFrom: new Date(newest.manifest.restorable?.to ?? newest.manifest.consistentAt),
  };
}

const relId = (rel: [string, string]): string => JSON.stringify(rel);

/** Folds the change-log lines of stored parts into the spill store (the rules in readDifferential's contract). */
class Folder {
  readonly tables = new Map<string, TableInfo | null>();
  /** Tables whose changes stopped folding: every further change of theirs goes to the late list. */
  private readonly late = new Set<string>();

  constructor(
    private readonly fold: SpillFold,
    private readonly sql: pg.Client,
  ) {}

  /** `ddlOf`: the id of the backup when it captured DDL (--capture-ddl): a logged DDL statement then ends the fold. */
  async addPart(name: string, body: Readable, where: string, ddlOf?: string): Promise<void> {
    for await (const line of partLines(name, body, where)) {
      if (line.kind !== 'change') continue;
      if (ddlOf !== undefined && ddlStatement(line.change)) {
        // Rows folded across a schema change would be written back in the shape of neither side.
        throw new DbBackupError('E_UNSUPPORTED', `backup ${ddlOf} holds a schema change (captured DDL), which a differential does not fold: take an incremental, or a full (--type full, or --auto-full).`);
      }
      await this.add(line.change);
    }
  }

  private async add(change: Change): Promise<void> {
    const text = JSON.stringify(change);
    if (change.op === 'T') {
      const rels = change.rels;
      const late = rels.some((r) => this.late.has(relId(r)));
      for (const r of rels) {
        this.fold.dropRelation(relId(r));
        if (late) this.late.add(relId(r));
      }
      this.fold.addOp(late ? 'late' : 'early', null, text);
      return;
    }
    const rel = relId(change.rel);
    const late = this.late.has(rel);
    if (change.op === 'R') {
      this.fold.dropRelation(rel);
      this.fold.addOp(late ? 'late' : 'early', rel, text);
      return;
    }
    const info = await this.table(change.rel);
    if (late || !info || info.key === null) {
      this.fold.addOp(late ? 'late' : 'early', rel, text);
      return;
    }
    if (!foldChange(this.fold, rel, info, change)) {
      this.late.add(rel);
      this.fold.addOp('late', rel, text);
    }
  }

  private async table(rel: [string, string]): Promise<TableInfo | null> {
    const id = relId(rel);
    let found = this.tables.get(id);
    if (found === undefined) this.tables.set(id, (found = await tableInfo(this.sql, rel)));
    return found;
  }
}

/**
 * The net section's change-log lines, in the order a restore applies them; `counted` is false for
 * the delete that clears the way for a row's image (the row counts once, as its image).
 */
function* netLines(fold: SpillFold, tables: Map<string, TableInfo | null>, objects: Set<string>): Generator<{ line: string; counted: boolean }> {
  const keyOf = (rel: string) => tables.get(rel)!.key!;
  const touched = (rel: [string, string]) => objects.add(`${rel[0]}.${rel[1]}`);
  for (const line of fold.ops('early')) yield { line, counted: true };
  for (const e of fold.entries('deletes')) {
    const rel = JSON.parse(e.rel) as [string, string];
    touched(rel);
    yield { line: JSON.stringify({ op: 'D', rel, key: keyColumns(e.key, keyOf(e.rel)) }), counted: e.tombstone };
  }
  for (const e of fold.entries('updates')) {
    const rel = JSON.parse(e.rel) as [string, string];
    touched(rel);
    yield { line: JSON.stringify({ op: 'U', rel, key: keyColumns(e.key, keyOf(e.rel)), new: e.cols }), counted: true };
  }
  for (const e of fold.entries('images')) {
    const rel = JSON.parse(e.rel) as [string, string];
    touched(rel);
    yield { line: JSON.stringify({ op: 'I', rel, new: e.cols }), counted: true };
  }
  for (const line of fold.ops('late')) yield { line, counted: true };
}

/**
 * Writes the net section as parts of about `partSize` bytes, each one synthetic transaction (xid 0)
 * at the newest link's end, so a part always holds whole transactions as the format wants.
 */
async function writeNet(
  fold: SpillFold,
  tables: Map<string, TableInfo | null>,
  since: CapturePosition,
  sink: PartSink,
  partSize: number,
  signal: AbortSignal,
): Promise<{ parts: number; changes: number; objects: Set<string> }> {
  const time = since.time!;
  const begin = `${JSON.stringify({ begin: { xid: 0, lsn: since.lsn, time } })}\n`;
  const commit = `${JSON.stringify({ commit: { lsn: since.lsn, end: since.lsn, time } })}\n`;
  const objects = new Set<string>();
  const lines = netLines(fold, tables, objects);
  let next = lines.next();
  let parts = 0;
  let changes = 0;
  while (!next.done) {
    signal.throwIfAborted();
    const body = function* (): Generator<Buffer> {
      yield Buffer.from(headerLine() + begin);
      let bytes = 0;
      let chunk = '';
      while (!next.done && bytes < partSize) {
        chunk += `${next.value.line}\n`;
        bytes += next.value.line.length + 1;
        if (next.value.counted) changes++;
        next = lines.next();
        if (chunk.length >= 64 << 10) {
          yield Buffer.from(chunk);
          chunk = '';
        }
      }
      yield Buffer.from(chunk + commit);
    };
    await sink.write({ name: `changes/${partName(parts++)}.jsonl`, role: 'changes' }, Readable.from(body()));
  }
  return { parts, changes, objects };
}

/** A sink that numbers the `changes/NNNN.jsonl` (and `.pgo`) parts written through it from `offset` on. */
function offsetSink(sink: PartSink, offset: number): PartSink {
  return {
    write(spec, body) {
      const m = /^changes\/(\d+)\.(jsonl|pgo)$/.exec(spec.name);
      return sink.write(m ? { ...spec, name: `changes/${partName(Number(m[1]) + offset)}.${m[2]}` } : spec, body);
    },
  };
}
