import { DbBackupError } from '../../../domain/errors.js';
import { compareTimes, type OplogTime, parseEntry, timeText } from './mongodb-oplog-entry.js';

/** One shard's entries, in its own log order, and where they come from (for messages). */
export interface ShardEntries {
  shard: string;
  where: string;
  entries: AsyncIterable<Buffer>;
}

interface Head {
  source: ShardEntries;
  it: AsyncIterator<Buffer>;
  raw: Buffer;
  ts: OplogTime;
}

/**
 * The shards' entries merged into one stream in cluster-time order (the ts every shard stamps from
 * the cluster's one logical clock), as PBM's sharded PITR replays them: a k-way merge holding one
 * entry per shard. Entries of equal time (two shards may stamp the same ts, and a cross-shard
 * transaction commits at one time on each) come in shard order. Each shard's own entries must
 * come in strictly increasing order (E_FOREIGN_ARCHIVE naming the part otherwise).
 */
export async function* mergeByClusterTime(sources: ShardEntries[]): AsyncGenerator<Buffer> {
  const heads: Head[] = [];
  const advance = async (source: ShardEntries, it: AsyncIterator<Buffer>, prev?: OplogTime): Promise<void> => {
    const next = await it.next();
    if (next.done) return;
    const ts = parseEntry(next.value, source.where).ts;
    if (prev && compareTimes(ts, prev) <= 0) throw new DbBackupError('E_FOREIGN_ARCHIVE', `${source.where} holds entries out of order (${timeText(ts)} after ${timeText(prev)}).`);
    heads.push({ source, it, raw: next.value, ts });
  };
  try {
    for (const source of sources) await advance(source, source.entries[Symbol.asyncIterator]());
    while (heads.length) {
      let at = 0;
      for (let k = 1; k < heads.length; k++) {
        const c = compareTimes(heads[k]!.ts, heads[at]!.ts);
        if (c < 0 || (c === 0 && heads[k]!.source.shard < heads[at]!.source.shard)) at = k;
      }
      const [head] = heads.splice(at, 1);
      // A copy: an entry held here must not pin the whole chunk it was read in.
      const raw = Buffer.from(head!.raw);
      await advance(head!.source, head!.it, head!.ts);
      yield raw;
    }
  } finally {
    await Promise.all(heads.map((h) => h.it.return?.().catch(() => undefined)));
  }
}
