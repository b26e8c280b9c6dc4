import type { MongoClient } from 'mongodb';
import { markerFromRow, MARKER_TABLE_FLAT, type RestoreMarker } from '../restore-marker.js';

/**
 * The incomplete-restore mark (restore-marker.ts) in MongoDB: the collection
 * `dbbackup_restore_incomplete` in each target database, holding one document (which backup, from
 * where, when, by which process). Written before the restore's first drop or create, dropped after
 * its last write: a restore killed in between leaves it, and the next one refuses the database
 * without --drop/--clean, naming it. Never backed up, nor counted as a user collection
 * (mongodb-catalog.ts's isSystemNamespace).
 */
export const MARKER_COLLECTION = MARKER_TABLE_FLAT;

/** The mark each of `dbs` holds, by database (read back from the target: untrusted, bounded). */
export async function readMarkers(client: MongoClient, dbs: string[]): Promise<Map<string, RestoreMarker>> {
  const found = new Map<string, RestoreMarker>();
  for (const db of dbs) {
    const doc = await client.db(db).collection(MARKER_COLLECTION).findOne({});
    const marker = markerFromRow(doc ?? undefined);
    if (marker) found.set(db, marker);
  }
  return found;
}

/** Marks every target database (replacing an earlier mark: this restore is the one in progress now). */
export async function placeMarkers(client: MongoClient, dbs: string[], m: RestoreMarker): Promise<void> {
  const doc = { backup_id: m.backupId, source: m.source, started_at: m.startedAt, host: m.host, pid: m.pid };
  for (const db of dbs) await client.db(db).collection<{ _id: string }>(MARKER_COLLECTION).replaceOne({ _id: 'restore' }, doc, { upsert: true });
}

/** Removes the mark from every target database (the restore's last step). */
export async function removeMarkers(client: MongoClient, dbs: string[]): Promise<void> {
  for (const db of dbs) await client.db(db).collection(MARKER_COLLECTION).drop().catch(() => false);
}
