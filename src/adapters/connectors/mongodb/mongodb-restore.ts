import type { Db, Document, MongoClient } from 'mongodb';
import type { PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { PartEntry } from '../../../domain/manifest.js';
import { readSmallPart } from '../read-small-part.js';
import { bsonBatches } from './bson-stream.js';
import { bucketsName, nsName } from './mongodb-catalog.js';
import { insertBatch, type RejectedDocument } from './mongodb-insert.js';
import { checkMetadata, createCommand, indexesToBuild, parseMetadata } from './mongodb-metadata.js';
import { incompleteTargetError, newMarker } from '../restore-marker.js';
import { placeMarkers, readMarkers, removeMarkers } from './mongodb-restore-marker.js';
import { clashes, readTargetState, refuseNonEmpty, type RestoreItem, type RestoreScope } from './mongodb-restore-scope.js';
import { runPool } from './work-pool.js';
import { QUIET_COMMAND } from './mongodb-timeouts.js';

const BATCH_DOCS = 1000;
const BATCH_BYTES = 8 * 1024 * 1024;
const EXAMPLES = 3;

/**
 * What a restore keeps of a collection's metadata once checked: its `create` options and the
 * indexes to build after its data, each only when there are any. A collection with neither (most
 * of 10,000 small ones) keeps no record at all: the parsed metadata (its `_id` index spec, uuid,
 * name) is not held for the whole restore.
 */
interface Prepared {
  options?: Document;
  indexes?: Document[];
}
const PLAIN: Prepared = {};

/** What went wrong per collection; examples are capped so a million rejects cost no memory. */
interface CollectionReport {
  ns: string;
  inserted: number;
  rejected: Map<string, { count: number; examples: RejectedDocument[] }>;
  failures: string[];
}

/**
 * mongorestore's order: (drop), create collections with their options, load data in parallel
 * across collections (unordered batches of raw BSON, one batch in flight while the next is read),
 * build each collection's indexes after its data, then create views. Documents the server refuses
 * (duplicate key, validation) do not stop the restore: they are counted and reported at the end as
 * E_PARTIAL, with examples.
 */
export async function runRestore(client: MongoClient, scope: RestoreScope, parts: PartSource, request: RestoreRequest, parallel: number, signal: AbortSignal): Promise<RestoreOutcome> {
  const marks = await readMarkers(client, scope.targetDbs);
  const marked = [...marks.entries()][0];
  if (marked && !request.clean) throw incompleteTargetError(`database ${marked[0]}`, marked[1]);
  const state = await readTargetState(client, scope.targetDbs);
  refuseNonEmpty(scope, state, request.clean);
  const metas = new Map<string, Prepared>();
  for (const item of scope.items) {
    const prepared = await readMetadata(parts, item, signal);
    if (prepared.options || prepared.indexes) metas.set(item.object, prepared);
  }
  const metaOf = (item: RestoreItem) => metas.get(item.object) ?? PLAIN;
  // From here on the target holds part of a restore until the mark is removed at the end.
  await placeMarkers(client, scope.targetDbs, newMarker(parts.manifest));
  if (request.clean) {
    for (const item of clashes(scope, state)) await client.db(item.target.db).collection(item.target.coll).drop().catch(() => false);
  }
  const collections = scope.items.filter((i) => i.type !== 'view');
  for (const item of collections) await create(client.db(item.target.db), item, metaOf(item));
  // Only the reports of collections with problems are kept: one per collection would grow with their number.
  const reports: CollectionReport[] = [];
  let rows = 0;
  await runPool(
    collections,
    parallel,
    async (item, stop) => {
      const report: CollectionReport = { ns: nsName(item.target.db, item.target.coll), inserted: 0, rejected: new Map(), failures: [] };
      if (item.dataPart) await loadData(client.db(item.target.db), item, parts, item.dataPart, report, stop);
      await buildIndexes(client.db(item.target.db), item, metaOf(item), report);
      rows += report.inserted;
      if (report.rejected.size || report.failures.length) reports.push(report);
    },
    signal,
  );
  const viewFailures: string[] = [];
  for (const item of scope.items.filter((i) => i.type === 'view')) {
    await create(client.db(item.target.db), item, metaOf(item)).catch((err: unknown) => viewFailures.push(`view ${nsName(item.target.db, item.target.coll)}: ${(err as Error).message}`));
  }
  // Finished (documents the server refused are reported below, as E_PARTIAL): no longer incomplete.
  await removeMarkers(client, scope.targetDbs);
  reportProblems(reports, viewFailures, rows);
  return { objects: scope.items.map((i) => nsName(i.target.db, i.target.coll)), rows };
}

/** Reads and checks a collection's metadata; returns what the restore needs of it later. */
async function readMetadata(parts: PartSource, item: RestoreItem, signal: AbortSignal): Promise<Prepared> {
  if (!item.metaPart) return PLAIN;
  const where = `${item.metaPart.name} of backup ${parts.manifest.id}`;
  const meta = parseMetadata((await readSmallPart(parts, item.metaPart, signal)).toString('utf8'), where);
  checkMetadata(meta, { ns: item.object, type: item.type }, where);
  const indexes = indexesToBuild(meta);
  return { ...(meta.options && Object.keys(meta.options).length ? { options: meta.options } : {}), ...(indexes.length ? { indexes } : {}) };
}

async function create(db: Db, item: RestoreItem, meta: Prepared): Promise<void> {
  try {
    await db.command(createCommand(item.target.coll, meta));
  } catch (err) {
    throw new DbBackupError('E_RESTORE_FAILED', `Cannot create ${item.type} ${nsName(item.target.db, item.target.coll)} with its recorded options: ${(err as Error).message}`, { cause: err });
  }
}

async function loadData(db: Db, item: RestoreItem, parts: PartSource, part: PartEntry, report: CollectionReport, stop: AbortSignal): Promise<void> {
  const target = item.type === 'timeseries' ? bucketsName(item.target.coll) : item.target.coll;
  let inflight: Promise<void> = Promise.resolve();
  let failed: { error: unknown } | undefined;
  // One batch in flight while the next is read.
  for await (const batch of bsonBatches(await parts.open(part), `${part.name} of backup ${parts.manifest.id}`, BATCH_DOCS, BATCH_BYTES)) {
    stop.throwIfAborted();
    await inflight;
    if (failed) break;
    inflight = insertBatch(db, target, batch).then(
      (outcome) => {
        report.inserted += outcome.inserted;
        for (const r of outcome.rejected) note(report, r);
      },
      (error: unknown) => {
        failed ??= { error };
      },
    );
  }
  await inflight;
  if (failed) {
    throw new DbBackupError('E_RESTORE_FAILED', `Loading ${report.ns} failed: ${(failed.error as Error).message}`, { cause: failed.error });
  }
}

function note(report: CollectionReport, r: RejectedDocument): void {
  const key = `${r.codeName ?? 'error'} (${r.code})`;
  const entry = report.rejected.get(key) ?? { count: 0, examples: [] };
  entry.count++;
  if (entry.examples.length < EXAMPLES) entry.examples.push(r);
  report.rejected.set(key, entry);
}

async function buildIndexes(db: Db, item: RestoreItem, meta: Prepared, report: CollectionReport): Promise<void> {
  const indexes = meta.indexes;
  if (!indexes) return;
  try {
    await db.command({ createIndexes: item.target.coll, indexes } as Document, QUIET_COMMAND);
  } catch (err) {
    report.failures.push(`indexes ${indexes.map((i) => i.name).join(', ')}: ${(err as Error).message}`);
  }
}

/** Throws E_PARTIAL naming every collection with refused documents or failed indexes, with examples. */
function reportProblems(reports: CollectionReport[], viewFailures: string[], rows: number): void {
  const lines: string[] = [];
  let refused = 0;
  for (const r of [...reports].sort((a, b) => (a.ns < b.ns ? -1 : 1))) {
    for (const [kind, { count, examples }] of r.rejected) {
      refused += count;
      const eg = examples.map((x) => `_id ${x.id ?? '?'}: ${x.message}`).join('; ');
      lines.push(`${r.ns}: ${count} document(s) refused, ${kind}, e.g. ${eg}`);
    }
    for (const f of r.failures) lines.push(`${r.ns}: ${f}`);
  }
  lines.push(...viewFailures);
  if (!lines.length) return;
  throw new DbBackupError(
    'E_PARTIAL',
    `The restore finished with problems: ${rows} document(s) restored, ${refused} refused by the server.\n  ${lines.join('\n  ')}`,
    { details: { restored: rows, refused, problems: lines } },
  );
}
