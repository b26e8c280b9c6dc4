import type { MongoClient } from 'mongodb';
import type { TableContents, TableDigest } from '../../../application/ports/table-contents.js';
import { RowDigest } from '../table-digest.js';
import { BATCH_SIZE } from './bson-stream.js';
import { bucketsName, type CollectionInfo, nsName } from './mongodb-catalog.js';
import { type MongoTimeouts, timeStream } from './mongodb-timeouts.js';

/**
 * MongoDB collections' digests: every document hashed as its raw BSON bytes, as a backup hashes
 * them while dumping (mongodb-dump.ts; a restore inserts those bytes unchanged), so that a restored
 * copy's digest equals the one its backup recorded. Views hold no documents and are left out; a
 * time-series collection is digested by its buckets, which is what a backup holds. With one
 * database, collections go by their own names (so that `app.c` and its restored `copy.c` compare).
 */
export class MongodbContents implements TableContents {
  constructor(
    private readonly open: () => Promise<MongoClient>,
    /** The endpoint's collections, the chosen ones only (E_USAGE for an unknown name). */
    private readonly choose: (client: MongoClient, filter: { tables?: string[] }) => Promise<CollectionInfo[]>,
    private readonly timeouts: MongoTimeouts = { ioTimeoutMs: 0 },
  ) {}

  async digest(filter: { tables?: string[] }, signal: AbortSignal): Promise<TableDigest[]> {
    const client = await this.open();
    const chosen = (await this.choose(client, filter)).filter((c) => c.type !== 'view');
    const single = new Set(chosen.map((c) => c.db)).size === 1;
    const out: TableDigest[] = [];
    for (const c of chosen.sort((a, b) => (nsName(a.db, a.name) < nsName(b.db, b.name) ? -1 : 1))) {
      const source = c.type === 'timeseries' ? bucketsName(c.name) : c.name;
      const digest = new RowDigest();
      const cursor = timeStream(client.db(c.db).collection(source).find({}, { raw: true, batchSize: BATCH_SIZE }), this.timeouts);
      try {
        for await (const doc of cursor as AsyncIterable<unknown> as AsyncIterable<Buffer>) {
          digest.addRange(doc, 0, doc.length);
          if (digest.rows % 1000 === 0) signal.throwIfAborted();
        }
      } finally {
        await cursor.close().catch(() => undefined);
      }
      signal.throwIfAborted();
      out.push({ table: single ? c.name : nsName(c.db, c.name), rows: digest.rows, hash: digest.hash });
    }
    return out;
  }
}
