import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { BSON, type Document } from 'mongodb';
import { OPLOG_INDEX_PART, OPLOG_PART, OplogTally } from '../../src/adapters/connectors/mongodb/mongodb-oplog-index.js';
import type { PartSource } from '../../src/application/ports/parts.js';
import type { Manifest } from '../../src/domain/manifest.js';

/**
 * Oplog entries recorded from real mongod servers (test/fixtures/oplog/README.md says where each
 * file came from: mongodb/mongo-tools and percona/percona-backup-mongodb, Apache-2.0).
 */
export const FIXTURES = fileURLToPath(new URL('../fixtures/oplog/', import.meta.url));
export const MONGO_TOOLS = `${FIXTURES}mongo-tools/`;
export const PBM = `${FIXTURES}percona-backup-mongodb/pbm/oplog/testdata/`;

/** Canonical Extended JSON, or the legacy form (`{ $binary: '…', $type: '04' }`) some mongo-tools files use. */
function ejson(text: string): unknown {
  try {
    return BSON.EJSON.parse(text, { relaxed: false });
  } catch {
    return BSON.EJSON.parse(text, { relaxed: false, legacy: true } as never);
  }
}

/** Entries of an Extended JSON file (an array, or one document per line) as raw BSON, types kept. */
export function jsonEntries(path: string): Buffer[] {
  const text = readFileSync(path, 'utf8').trim();
  const docs = text.startsWith('[') ? (ejson(text) as Document[]) : text.split('\n').map((l) => ejson(l) as Document);
  return docs.map((d) => Buffer.from(BSON.serialize(d)));
}

/** A file of entries as mongodump wrote them (concatenated raw BSON). */
export function bsonEntries(path: string): Buffer[] {
  const all = readFileSync(path);
  const out: Buffer[] = [];
  for (let at = 0; at < all.length; at += all.readInt32LE(at)) out.push(all.subarray(at, at + all.readInt32LE(at)));
  return out;
}

/** mongo-tools' transaction cases: each a list of entries and the collection's documents after them. */
export function txnCases(): { name: string; ns: string; ops: Buffer[]; postimage: Document[] | null }[] {
  const all = ejson(readFileSync(`${MONGO_TOOLS}common/txn/testdata/oplog_entries.json`, 'utf8')) as Record<string, Document>;
  return Object.entries(all).map(([name, c]) => ({
    name,
    ns: String(c.ns ?? ''),
    ops: (c.ops as Document[]).map((d) => Buffer.from(BSON.serialize(d))),
    postimage: (c.postimage as Document[] | undefined) ?? null,
  }));
}

export function wallOf(raw: Buffer): Date {
  return BSON.deserialize(raw).wall as Date;
}

/** An in-memory oplog link (the parts an incremental holds) over `entries`. */
export function oplogLink(entries: Buffer[], over: Partial<Manifest> = {}): PartSource {
  const data = Buffer.concat(entries);
  const tally = new OplogTally();
  const index = Buffer.from(JSON.stringify(tally.index(null, { t: 0, i: 0 })));
  const parts = [
    { name: OPLOG_PART, role: 'changes' as const, rawSize: data.length, storedSize: data.length, sha256: '', codecs: [] },
    { name: OPLOG_INDEX_PART, role: 'changes' as const, rawSize: index.length, storedSize: index.length, sha256: '', codecs: [] },
  ];
  const manifest = { id: 'test-incr', kind: 'incremental', parts, objects: [], engineInfo: {}, ...over } as unknown as Manifest;
  return {
    manifest,
    async open(part) {
      const body = part.name === OPLOG_PART ? data : index;
      // Cut in odd places: the reader must join entries across chunks.
      const chunks: Buffer[] = [];
      for (let at = 0; at < body.length; at += 37) chunks.push(body.subarray(at, at + 37));
      return Readable.from(chunks);
    },
  };
}
